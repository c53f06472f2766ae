//! Option haggling of the newstyle fixed handshake, up to the choice of an
//! export.
//!
//! The server greets, reads the client flags, then answers options until
//! the client picks an export (`NBD_OPT_GO` acknowledged, or
//! `NBD_OPT_EXPORT_NAME`), aborts, or breaks the protocol. Export names are
//! secrets: `NBD_OPT_LIST` is refused with `NBD_REP_ERR_POLICY`, and the
//! replies never echo a name.
//!
//! Structured replies (`NBD_OPT_STRUCTURED_REPLY`) and the one metadata
//! context, `base:allocation` (`NBD_OPT_{LIST,SET}_META_CONTEXT`), are
//! negotiated here and handed to transmission as a [`Session`]. The spec's
//! ordering rules hold: a meta context needs structured replies first, a
//! later `SET_META_CONTEXT` replaces the selection even when it fails, and
//! the selection counts only for the export it named, so a GO for another
//! name enters transmission without block status. Options the server does
//! not implement (TLS, extended headers) get `NBD_REP_ERR_UNSUP`, which
//! every client handles by falling back.
//!
//! A read-write export enters transmission only with this host's writer
//! claim on the volume (taken at GO / EXPORT_NAME, checked without taking
//! at INFO): a volume open for writing on another host is refused with
//! `NBD_REP_ERR_POLICY`.

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exports::{Export, Refusal, Registry};
use super::owners::Claim;
use super::proto::{self, InfoRequest, OptionHeader};
use super::structured::{self, MetaRequest};

/// Options one client may send before it must have chosen an export.
/// QEMU and libnbd send fewer than ten; the bound stops a client that
/// loops forever.
const MAX_OPTIONS: usize = 64;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// What the client negotiated for transmission.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Session {
    /// Structured replies: READ answers in chunks, holes as holes.
    pub structured: bool,
    /// The id of `base:allocation` when it was selected for this export:
    /// `NBD_CMD_BLOCK_STATUS` is allowed only then.
    pub base_allocation: Option<u32>,
}

/// State of the option haggling that later options depend on.
#[derive(Default)]
struct Haggle {
    structured: bool,
    /// Export name of the last successful `SET_META_CONTEXT` that selected
    /// `base:allocation`.
    meta_for: Option<String>,
}

impl Haggle {
    /// The session for a client entering transmission on `name`.
    fn session(&self, name: &str) -> Session {
        Session {
            structured: self.structured,
            base_allocation: (self.meta_for.as_deref() == Some(name))
                .then_some(structured::BASE_ALLOCATION_ID),
        }
    }
}

/// What a successful handshake hands to transmission.
pub(crate) struct Opened {
    pub export: Export,
    pub session: Session,
    /// This connection's share of the writer claim (read-write exports).
    pub claim: Option<Claim>,
}

/// Runs the handshake. `Ok(Some(..))` enters transmission with the export,
/// what was negotiated for it and its claim, `Ok(None)` means the client aborted or
/// was refused where only a hard disconnect is possible; `Err` is an IO or
/// protocol error.
pub(crate) async fn negotiate<S>(
    s: &mut S,
    peer: IpAddr,
    registry: &Registry,
) -> io::Result<Option<Opened>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut st = Haggle::default();
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
                let Ok(claim) = registry.claim(&export).await else {
                    return Ok(None);
                };
                let session = st.session(&export.name);
                let flags = export.flags(session.structured);
                let r = proto::export_name_reply(export.size, flags, cflags.no_zeroes);
                // On a write error the claim's drop gives it back.
                s.write_all(&r).await?;
                s.flush().await?;
                return Ok(Some(Opened {
                    export,
                    session,
                    claim,
                }));
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
                if let Some((export, claim)) =
                    info_or_go(s, h.option, &data, peer, registry, &st).await?
                {
                    let session = st.session(&export.name);
                    return Ok(Some(Opened {
                        export,
                        session,
                        claim,
                    }));
                }
            }
            proto::OPT_STRUCTURED_REPLY if !data.is_empty() => {
                reply(
                    s,
                    h.option,
                    proto::REP_ERR_INVALID,
                    b"STRUCTURED_REPLY takes no data",
                )
                .await?
            }
            proto::OPT_STRUCTURED_REPLY => {
                st.structured = true;
                reply(s, h.option, proto::REP_ACK, b"").await?
            }
            proto::OPT_LIST_META_CONTEXT | proto::OPT_SET_META_CONTEXT => {
                meta_context(s, h.option, &data, peer, registry, &mut st).await?
            }
            _ => reply(s, h.option, proto::REP_ERR_UNSUP, b"").await?,
        }
    }
    Err(invalid("too many options"))
}

/// Answers `NBD_OPT_{LIST,SET}_META_CONTEXT`. The export must exist for
/// this peer, as for GO (same refusals: the name stays a secret to anyone
/// else). A SET replaces the previous selection first, so a failed one
/// leaves none (the spec's rule).
async fn meta_context<S>(
    s: &mut S,
    option: u32,
    data: &[u8],
    peer: IpAddr,
    registry: &Registry,
    st: &mut Haggle,
) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let listing = option == proto::OPT_LIST_META_CONTEXT;
    if !listing {
        st.meta_for = None;
    }
    if !st.structured {
        // Block status replies are structured: without them the context
        // could never be used (SHOULD for SET, MAY for LIST).
        let msg = b"negotiate structured replies first";
        return reply(s, option, proto::REP_ERR_INVALID, msg).await;
    }
    let Some(req) = MetaRequest::parse(data) else {
        return reply(s, option, proto::REP_ERR_INVALID, b"malformed request").await;
    };
    if let Err(r) = registry.lookup(&req.name, peer).await {
        let (code, msg) = refusal(r);
        return reply(s, option, code, msg).await;
    }
    let mut out = Vec::new();
    if req.wants_base_allocation(listing) {
        // Listed contexts carry id 0 (reserved); a selection its real id.
        let id = if listing {
            0
        } else {
            structured::BASE_ALLOCATION_ID
        };
        let d = structured::meta_context_reply(id, structured::BASE_ALLOCATION);
        out.extend(proto::option_reply(option, proto::REP_META_CONTEXT, &d));
        if !listing {
            st.meta_for = Some(req.name);
        }
    }
    out.extend(proto::option_reply(option, proto::REP_ACK, b""));
    s.write_all(&out).await?;
    s.flush().await
}

fn refusal(r: Refusal) -> (u32, &'static [u8]) {
    match r {
        Refusal::Unknown => (proto::REP_ERR_UNKNOWN, b"no such export"),
        Refusal::Policy => (
            proto::REP_ERR_POLICY,
            b"export not available to this address",
        ),
        Refusal::Failed => (proto::REP_ERR_UNKNOWN, b"export lookup failed"),
        // POLICY rather than a transient error: the client cannot get it by
        // retrying at once, only after the other host lets go.
        Refusal::Busy => (
            proto::REP_ERR_POLICY,
            b"volume is open for writing on another host",
        ),
    }
}

/// Answers `NBD_OPT_INFO` / `NBD_OPT_GO`; returns the export and its
/// claim when a GO succeeded.
async fn info_or_go<S>(
    s: &mut S,
    option: u32,
    data: &[u8],
    peer: IpAddr,
    registry: &Registry,
    st: &Haggle,
) -> io::Result<Option<(Export, Option<Claim>)>>
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
            let (code, msg) = refusal(r);
            reply(s, option, code, msg).await?;
            return Ok(None);
        }
    };
    // The claim before any REP_INFO: an error reply must come alone.
    let claim = if option == proto::OPT_GO {
        registry.claim(&export).await
    } else {
        registry.check_claim(&export).await.map(|()| None)
    };
    let claim = match claim {
        Ok(c) => c,
        Err(r) => {
            let (code, msg) = refusal(r);
            reply(s, option, code, msg).await?;
            return Ok(None);
        }
    };
    // SEND_DF only with structured replies (the spec's MUST).
    let flags = export.flags(st.structured);
    let mut out = proto::option_reply(
        option,
        proto::REP_INFO,
        &proto::info_export(export.size, flags),
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
    Ok((option == proto::OPT_GO).then_some((export, claim)))
}

async fn reply<S>(s: &mut S, option: u32, code: u32, msg: &[u8]) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    s.write_all(&proto::option_reply(option, code, msg)).await?;
    s.flush().await
}
