//! NBD wire format: the constants of the newstyle fixed protocol and pure
//! parse/encode functions for everything the server reads or writes.
//!
//! Nothing here does IO, so every function is tested on byte slices (unit
//! and property tests below). All integers on the wire are big-endian.
//! The protocol is described in `docs/formats/nbd.md`; only the subset the
//! server speaks has constants here.

use std::fmt;

/// `NBDMAGIC`: first 8 bytes the server sends.
pub const NBDMAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: second greeting word and the magic of every option request.
pub const IHAVEOPT: u64 = 0x4948_4156_454f_5054;
/// Magic of every option reply.
pub const REPLY_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple transmission reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
/// Magic of a structured reply chunk.
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

// Handshake flags (server, 16 bits).
pub const FLAG_FIXED_NEWSTYLE: u16 = 1 << 0;
pub const FLAG_NO_ZEROES: u16 = 1 << 1;

// Client flags (32 bits).
pub const FLAG_C_FIXED_NEWSTYLE: u32 = 1 << 0;
pub const FLAG_C_NO_ZEROES: u32 = 1 << 1;

// Transmission flags (16 bits).
pub const FLAG_HAS_FLAGS: u16 = 1 << 0;
pub const FLAG_READ_ONLY: u16 = 1 << 1;
pub const FLAG_SEND_FLUSH: u16 = 1 << 2;
pub const FLAG_SEND_FUA: u16 = 1 << 3;
pub const FLAG_SEND_TRIM: u16 = 1 << 5;
pub const FLAG_SEND_WRITE_ZEROES: u16 = 1 << 6;
/// Offered only once structured replies are negotiated (the spec's MUST).
pub const FLAG_SEND_DF: u16 = 1 << 7;
pub const FLAG_CAN_MULTI_CONN: u16 = 1 << 8;

// Options.
pub const OPT_EXPORT_NAME: u32 = 1;
pub const OPT_ABORT: u32 = 2;
pub const OPT_LIST: u32 = 3;
pub const OPT_STARTTLS: u32 = 5;
pub const OPT_INFO: u32 = 6;
pub const OPT_GO: u32 = 7;
pub const OPT_STRUCTURED_REPLY: u32 = 8;
pub const OPT_LIST_META_CONTEXT: u32 = 9;
pub const OPT_SET_META_CONTEXT: u32 = 10;
/// Experimental extended headers: refused, clients fall back.
pub const OPT_EXTENDED_HEADERS: u32 = 11;

// Option reply types.
pub const REP_ACK: u32 = 1;
pub const REP_INFO: u32 = 3;
pub const REP_META_CONTEXT: u32 = 4;
const REP_ERR: u32 = 1 << 31;
pub const REP_ERR_UNSUP: u32 = REP_ERR | 1;
pub const REP_ERR_POLICY: u32 = REP_ERR | 2;
pub const REP_ERR_INVALID: u32 = REP_ERR | 3;
pub const REP_ERR_UNKNOWN: u32 = REP_ERR | 6;
pub const REP_ERR_SHUTDOWN: u32 = REP_ERR | 7;

// Information types of `NBD_REP_INFO`.
pub const INFO_EXPORT: u16 = 0;
pub const INFO_BLOCK_SIZE: u16 = 3;

// Commands.
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_WRITE_ZEROES: u16 = 6;
pub const CMD_BLOCK_STATUS: u16 = 7;

// Command flags.
pub const CMD_FLAG_FUA: u16 = 1 << 0;
pub const CMD_FLAG_NO_HOLE: u16 = 1 << 1;
/// READ: at most one content chunk ("don't fragment").
pub const CMD_FLAG_DF: u16 = 1 << 2;
/// BLOCK_STATUS: exactly one extent per context.
pub const CMD_FLAG_REQ_ONE: u16 = 1 << 3;

// Structured reply flags and chunk types.
pub const REPLY_FLAG_DONE: u16 = 1 << 0;
pub const REPLY_TYPE_NONE: u16 = 0;
pub const REPLY_TYPE_OFFSET_DATA: u16 = 1;
pub const REPLY_TYPE_OFFSET_HOLE: u16 = 2;
pub const REPLY_TYPE_BLOCK_STATUS: u16 = 5;
pub const REPLY_TYPE_ERROR: u16 = (1 << 15) | 1;
pub const REPLY_TYPE_ERROR_OFFSET: u16 = (1 << 15) | 2;

// Flags of the `base:allocation` metadata context.
pub const STATE_HOLE: u32 = 1 << 0;
pub const STATE_ZERO: u32 = 1 << 1;

// Error values of transmission replies.
pub const EPERM: u32 = 1;
pub const EIO: u32 = 5;
pub const EINVAL: u32 = 22;
pub const ENOSPC: u32 = 28;
pub const EOVERFLOW: u32 = 75;
pub const ESHUTDOWN: u32 = 108;

/// Largest READ/WRITE payload the server accepts (the spec's interoperable
/// maximum, 32 MiB); advertised in `NBD_INFO_BLOCK_SIZE`.
pub const MAX_PAYLOAD: u32 = 32 << 20;
/// Largest option payload the server reads. Export names are at most 4 KiB
/// by the spec; anything much larger is a misbehaving client.
pub const MAX_OPTION_LEN: u32 = 64 << 10;

/// Bytes of a transmission request header.
pub const REQUEST_LEN: usize = 28;
/// Bytes of an option request header.
pub const OPTION_HEADER_LEN: usize = 16;

/// Input that breaks the protocol: the connection cannot continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// A header started with the wrong magic number.
    BadMagic { expected: u64, got: u64 },
    /// The client set flags the server does not know or did not offer.
    BadClientFlags(u32),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::BadMagic { expected, got } => {
                write!(f, "bad magic {got:#x}, expected {expected:#x}")
            }
            ProtoError::BadClientFlags(v) => write!(f, "unknown client flags {v:#x}"),
        }
    }
}

impl std::error::Error for ProtoError {}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().expect("8 bytes"))
}

/// The server's greeting: magic, `IHAVEOPT`, handshake flags.
pub fn greeting() -> [u8; 18] {
    let mut b = [0u8; 18];
    b[..8].copy_from_slice(&NBDMAGIC.to_be_bytes());
    b[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    b[16..].copy_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    b
}

/// What the client's flags ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFlags {
    pub fixed_newstyle: bool,
    pub no_zeroes: bool,
}

/// Parses the client's 32-bit flags; unknown bits end the session (the spec
/// says the server MUST drop the connection).
pub fn parse_client_flags(v: u32) -> Result<ClientFlags, ProtoError> {
    if v & !(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES) != 0 {
        return Err(ProtoError::BadClientFlags(v));
    }
    Ok(ClientFlags {
        fixed_newstyle: v & FLAG_C_FIXED_NEWSTYLE != 0,
        no_zeroes: v & FLAG_C_NO_ZEROES != 0,
    })
}

/// An option request header; `len` bytes of data follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionHeader {
    pub option: u32,
    pub len: u32,
}

impl OptionHeader {
    pub fn parse(b: &[u8; OPTION_HEADER_LEN]) -> Result<OptionHeader, ProtoError> {
        let magic = be64(&b[..8]);
        if magic != IHAVEOPT {
            return Err(ProtoError::BadMagic {
                expected: IHAVEOPT,
                got: magic,
            });
        }
        Ok(OptionHeader {
            option: be32(&b[8..12]),
            len: be32(&b[12..16]),
        })
    }

    pub fn encode(&self) -> [u8; OPTION_HEADER_LEN] {
        let mut b = [0u8; OPTION_HEADER_LEN];
        b[..8].copy_from_slice(&IHAVEOPT.to_be_bytes());
        b[8..12].copy_from_slice(&self.option.to_be_bytes());
        b[12..].copy_from_slice(&self.len.to_be_bytes());
        b
    }
}

/// The data of `NBD_OPT_INFO` / `NBD_OPT_GO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    pub name: String,
    pub infos: Vec<u16>,
}

impl InfoRequest {
    /// Parses the option data; `None` when it is malformed (lengths that
    /// disagree, a name that is not UTF-8), which the caller answers with
    /// `NBD_REP_ERR_INVALID`.
    pub fn parse(data: &[u8]) -> Option<InfoRequest> {
        if data.len() < 6 {
            return None;
        }
        let nlen = be32(data) as usize;
        let rest = &data[4..];
        if nlen > rest.len().saturating_sub(2) {
            return None;
        }
        let name = std::str::from_utf8(&rest[..nlen]).ok()?.to_string();
        let rest = &rest[nlen..];
        let n = be16(rest) as usize;
        let rest = &rest[2..];
        if rest.len() != n * 2 {
            return None;
        }
        let infos = rest.chunks_exact(2).map(be16).collect();
        Some(InfoRequest { name, infos })
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(6 + self.name.len() + 2 * self.infos.len());
        b.extend_from_slice(&(self.name.len() as u32).to_be_bytes());
        b.extend_from_slice(self.name.as_bytes());
        b.extend_from_slice(&(self.infos.len() as u16).to_be_bytes());
        for i in &self.infos {
            b.extend_from_slice(&i.to_be_bytes());
        }
        b
    }
}

/// The name carried by `NBD_OPT_EXPORT_NAME` (the whole option data).
pub fn parse_export_name(data: &[u8]) -> Option<String> {
    std::str::from_utf8(data).ok().map(str::to_string)
}

/// One option reply: header and data.
pub fn option_reply(option: u32, reply: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + data.len());
    b.extend_from_slice(&REPLY_MAGIC.to_be_bytes());
    b.extend_from_slice(&option.to_be_bytes());
    b.extend_from_slice(&reply.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

/// Data of an `NBD_REP_INFO` carrying `NBD_INFO_EXPORT`.
pub fn info_export(size: u64, flags: u16) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..2].copy_from_slice(&INFO_EXPORT.to_be_bytes());
    b[2..10].copy_from_slice(&size.to_be_bytes());
    b[10..].copy_from_slice(&flags.to_be_bytes());
    b
}

/// Data of an `NBD_REP_INFO` carrying `NBD_INFO_BLOCK_SIZE`.
pub fn info_block_size(min: u32, preferred: u32, max: u32) -> [u8; 14] {
    let mut b = [0u8; 14];
    b[..2].copy_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    b[2..6].copy_from_slice(&min.to_be_bytes());
    b[6..10].copy_from_slice(&preferred.to_be_bytes());
    b[10..].copy_from_slice(&max.to_be_bytes());
    b
}

/// The answer to a successful `NBD_OPT_EXPORT_NAME`: size, flags and, unless
/// the client negotiated `NBD_FLAG_C_NO_ZEROES`, 124 zero bytes.
pub fn export_name_reply(size: u64, flags: u16, no_zeroes: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(134);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    if !no_zeroes {
        b.extend_from_slice(&[0u8; 124]);
    }
    b
}

/// A transmission request header (the payload of a WRITE follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub kind: u16,
    pub cookie: u64,
    pub offset: u64,
    pub len: u32,
}

impl Request {
    /// Parses a header; a wrong magic means the stream is out of step and
    /// the connection must end.
    pub fn parse(b: &[u8; REQUEST_LEN]) -> Result<Request, ProtoError> {
        let magic = be32(b);
        if magic != REQUEST_MAGIC {
            return Err(ProtoError::BadMagic {
                expected: REQUEST_MAGIC as u64,
                got: magic as u64,
            });
        }
        Ok(Request {
            flags: be16(&b[4..6]),
            kind: be16(&b[6..8]),
            cookie: be64(&b[8..16]),
            offset: be64(&b[16..24]),
            len: be32(&b[24..28]),
        })
    }

    pub fn encode(&self) -> [u8; REQUEST_LEN] {
        let mut b = [0u8; REQUEST_LEN];
        b[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        b[4..6].copy_from_slice(&self.flags.to_be_bytes());
        b[6..8].copy_from_slice(&self.kind.to_be_bytes());
        b[8..16].copy_from_slice(&self.cookie.to_be_bytes());
        b[16..24].copy_from_slice(&self.offset.to_be_bytes());
        b[24..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    /// Bytes of payload that follow this header on the wire.
    pub fn payload_len(&self) -> u32 {
        if self.kind == CMD_WRITE {
            self.len
        } else {
            0
        }
    }
}

/// A simple reply header (read data, if any, follows it).
pub fn simple_reply(cookie: u64, error: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&error.to_be_bytes());
    b[8..].copy_from_slice(&cookie.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn greeting_is_magic_ihaveopt_and_flags() {
        let g = greeting();
        assert_eq!(&g[..8], b"NBDMAGIC");
        assert_eq!(&g[8..16], b"IHAVEOPT");
        assert_eq!(be16(&g[16..]), 0b11);
    }

    #[test]
    fn reply_magic_matches_the_spec() {
        // 0x3e889045565a9 in the spec.
        assert_eq!(REPLY_MAGIC, 0x3e889045565a9);
    }

    #[test]
    fn client_flags() {
        assert_eq!(
            parse_client_flags(3),
            Ok(ClientFlags {
                fixed_newstyle: true,
                no_zeroes: true
            })
        );
        assert_eq!(
            parse_client_flags(0),
            Ok(ClientFlags {
                fixed_newstyle: false,
                no_zeroes: false
            })
        );
        assert_eq!(parse_client_flags(4), Err(ProtoError::BadClientFlags(4)));
    }

    #[test]
    fn option_header_roundtrip_and_bad_magic() {
        let h = OptionHeader {
            option: OPT_GO,
            len: 42,
        };
        assert_eq!(OptionHeader::parse(&h.encode()), Ok(h));
        let mut b = h.encode();
        b[0] ^= 1;
        assert!(matches!(
            OptionHeader::parse(&b),
            Err(ProtoError::BadMagic { .. })
        ));
    }

    #[test]
    fn info_request_parses_qemu_style_go() {
        // name "vol", one request: NBD_INFO_BLOCK_SIZE.
        let data = [0, 0, 0, 3, b'v', b'o', b'l', 0, 1, 0, 3];
        assert_eq!(
            InfoRequest::parse(&data),
            Some(InfoRequest {
                name: "vol".into(),
                infos: vec![INFO_BLOCK_SIZE]
            })
        );
    }

    #[test]
    fn info_request_rejects_malformed() {
        assert_eq!(InfoRequest::parse(&[]), None);
        assert_eq!(InfoRequest::parse(&[0, 0, 0, 0, 0]), None);
        // Name longer than the data.
        assert_eq!(InfoRequest::parse(&[0, 0, 0, 9, b'a', 0, 0]), None);
        // Count of 2 requests but only one present.
        assert_eq!(InfoRequest::parse(&[0, 0, 0, 0, 0, 2, 0, 3]), None);
        // Trailing garbage.
        assert_eq!(InfoRequest::parse(&[0, 0, 0, 0, 0, 0, 9]), None);
        // Not UTF-8.
        assert_eq!(InfoRequest::parse(&[0, 0, 0, 1, 0xff, 0, 0]), None);
        // Empty name, no requests: valid (the default export).
        assert_eq!(
            InfoRequest::parse(&[0, 0, 0, 0, 0, 0]),
            Some(InfoRequest {
                name: String::new(),
                infos: vec![]
            })
        );
    }

    #[test]
    fn option_reply_layout() {
        let r = option_reply(OPT_GO, REP_ERR_UNKNOWN, b"x");
        assert_eq!(be64(&r[..8]), REPLY_MAGIC);
        assert_eq!(be32(&r[8..12]), OPT_GO);
        assert_eq!(be32(&r[12..16]), 0x8000_0006);
        assert_eq!(be32(&r[16..20]), 1);
        assert_eq!(&r[20..], b"x");
        assert_eq!(REP_ERR_POLICY, 0x8000_0002);
        assert_eq!(REP_ERR_UNSUP, 0x8000_0001);
    }

    #[test]
    fn info_payloads() {
        let e = info_export(0x0102_0304_0506_0708, 0x0109);
        assert_eq!(
            e,
            [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0x01, 0x09],
            "type, size, flags"
        );
        let b = info_block_size(1, 4096, MAX_PAYLOAD);
        assert_eq!(be16(&b), INFO_BLOCK_SIZE);
        assert_eq!(be32(&b[2..]), 1);
        assert_eq!(be32(&b[6..]), 4096);
        assert_eq!(be32(&b[10..]), 32 << 20);
    }

    #[test]
    fn export_name_reply_zeroes() {
        assert_eq!(export_name_reply(7, 1, false).len(), 134);
        let r = export_name_reply(7, 1, true);
        assert_eq!(r, [0, 0, 0, 0, 0, 0, 0, 7, 0, 1]);
    }

    #[test]
    fn request_parse_fields() {
        let mut b = [0u8; REQUEST_LEN];
        b[..4].copy_from_slice(&[0x25, 0x60, 0x95, 0x13]);
        b[4..6].copy_from_slice(&[0, 1]); // FUA
        b[6..8].copy_from_slice(&[0, 1]); // WRITE
        b[8..16].copy_from_slice(&[0xde, 0xad, 0, 0, 0, 0, 0, 1]);
        b[16..24].copy_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]);
        b[24..].copy_from_slice(&[0, 0, 0x10, 0]);
        let r = Request::parse(&b).unwrap();
        assert_eq!(
            r,
            Request {
                flags: CMD_FLAG_FUA,
                kind: CMD_WRITE,
                cookie: 0xdead_0000_0000_0001,
                offset: 0x10000,
                len: 4096
            }
        );
        assert_eq!(r.payload_len(), 4096);
        let read = Request {
            kind: CMD_READ,
            ..r
        };
        assert_eq!(read.payload_len(), 0);
    }

    #[test]
    fn request_bad_magic() {
        let mut b = [0u8; REQUEST_LEN];
        b[..4].copy_from_slice(b"GET ");
        assert_eq!(
            Request::parse(&b),
            Err(ProtoError::BadMagic {
                expected: REQUEST_MAGIC as u64,
                got: u32::from_be_bytes(*b"GET ") as u64
            })
        );
    }

    #[test]
    fn simple_reply_layout() {
        let r = simple_reply(0x0102_0304_0506_0708, EINVAL);
        assert_eq!(&r[..4], &[0x67, 0x44, 0x66, 0x98]);
        assert_eq!(be32(&r[4..]), 22);
        assert_eq!(&r[8..], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    proptest! {
        #[test]
        fn request_parse_never_panics_and_roundtrips(bytes in proptest::array::uniform28(any::<u8>())) {
            match Request::parse(&bytes) {
                Ok(r) => prop_assert_eq!(r.encode(), bytes),
                Err(ProtoError::BadMagic { got, .. }) => {
                    prop_assert_ne!(got as u32, REQUEST_MAGIC);
                    prop_assert_eq!(got as u32, be32(&bytes));
                }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }

        #[test]
        fn request_encode_parse_roundtrip(flags in any::<u16>(), kind in any::<u16>(),
                                          cookie in any::<u64>(), offset in any::<u64>(),
                                          len in any::<u32>()) {
            let r = Request { flags, kind, cookie, offset, len };
            prop_assert_eq!(Request::parse(&r.encode()), Ok(r));
        }

        #[test]
        fn info_request_parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Some(req) = InfoRequest::parse(&data) {
                // Whatever parses re-encodes to the same bytes.
                prop_assert_eq!(req.encode(), data);
            }
        }

        #[test]
        fn info_request_roundtrip(name in "[a-zA-Z0-9_-]{0,40}",
                                  infos in proptest::collection::vec(any::<u16>(), 0..8)) {
            let r = InfoRequest { name, infos };
            prop_assert_eq!(InfoRequest::parse(&r.encode()), Some(r));
        }

        #[test]
        fn option_header_parse_never_panics(bytes in proptest::array::uniform16(any::<u8>())) {
            if let Ok(h) = OptionHeader::parse(&bytes) {
                prop_assert_eq!(h.encode(), bytes);
            }
        }
    }
}
