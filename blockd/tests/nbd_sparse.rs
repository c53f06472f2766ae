//! Sparse exports over NBD with the real tools: structured replies (holes
//! sent as `OFFSET_HOLE`), `base:allocation` block status, and what they
//! buy: `qemu-img convert` of a thin 8 GiB export reads megabytes, not
//! gigabytes. A counting TCP proxy between tool and server measures the
//! bytes the server sent, so the effect is checked in bytes, never in time.

// Each test binary compiles the shared harness whole; this one uses only
// part of it.
#[allow(dead_code)]
mod nbd_harness;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use nbd_harness::*;

const GIB: u64 = 1024 * MIB;

/// Writes `len` bytes of `pat` at `offset` of `rid` through the resource
/// layer (the map is what block status reports).
fn fill(srv: &Server, rid: &str, offset: u64, len: u64, pat: u8) {
    let data = Bytes::from(vec![pat; len as usize]);
    srv.rt
        .block_on(srv.arch().write_at(rid, offset, data))
        .unwrap();
}

/// A TCP proxy to the server counting the bytes it sends to clients.
struct Proxy {
    port: u16,
    from_server: Arc<AtomicU64>,
}

impl Proxy {
    fn start(server_port: u16) -> Proxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let from_server = Arc::new(AtomicU64::new(0));
        let count = from_server.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(c) = c else { return };
                let s = TcpStream::connect(("127.0.0.1", server_port)).unwrap();
                let (c2, s2) = (c.try_clone().unwrap(), s.try_clone().unwrap());
                std::thread::spawn(move || pump(c, s, None));
                let count = count.clone();
                std::thread::spawn(move || pump(s2, c2, Some(count)));
            }
        });
        Proxy { port, from_server }
    }

    fn uri(&self, v: &Vol) -> String {
        format!("nbd://127.0.0.1:{}/{}", self.port, v.name)
    }

    fn sent(&self) -> u64 {
        self.from_server.load(Ordering::Relaxed)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, count: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(c) = &count {
            c.fetch_add(n as u64, Ordering::Relaxed);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn qemu_img(args: &[&str]) -> Out {
    let o = run(Command::new("qemu-img").args(args));
    assert!(o.ok, "qemu-img {args:?}: {}{}", o.stdout, o.stderr);
    o
}

#[test]
fn qemu_img_convert_of_a_thin_8g_export_reads_only_its_data() {
    if !have("qemu-img") {
        return;
    }
    let srv = Server::start();
    let size = 8 * GIB;
    let v = srv.export(size, None, false);
    fill(&srv, &v.rid, GIB, BLOCK as u64, 0xa5);
    fill(&srv, &v.rid, size - BLOCK as u64, BLOCK as u64, 0x5a);
    let proxy = Proxy::start(srv.port);
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst.raw");
    let t = Instant::now();
    qemu_img(&[
        "convert",
        "-f",
        "raw",
        "-O",
        "raw",
        &proxy.uri(&v),
        dst.to_str().unwrap(),
    ]);
    let took = t.elapsed();
    let sent = proxy.sent();
    let md = std::fs::metadata(&dst).unwrap();
    eprintln!(
        "qemu-img convert of a thin 8 GiB export: {took:?}, {sent} bytes from the server, \
         {} bytes allocated in the copy",
        md.blocks() * 512
    );
    assert_eq!(md.len(), size);
    // Two 256 KiB blocks of data: the copy allocates about that much.
    assert!(md.blocks() * 512 <= 16 * MIB, "copy is not sparse");
    // The data plus protocol overhead, not 8 GiB of zeros.
    assert!(sent < 64 * MIB, "server sent {sent} bytes");
    let o = qemu_img(&[
        "compare",
        "-f",
        "raw",
        "-F",
        "raw",
        dst.to_str().unwrap(),
        &v.uri,
    ]);
    assert!(o.stdout.contains("identical"), "{}", o.stdout);
}

/// Data at known places of a [`SIZE`] export (256 KiB blocks): block 1,
/// blocks 4 and 5, and the 4 KiB tail. Returns the expected allocation as
/// (offset, length, is_hole).
fn thin_layout(srv: &Server, rid: &str) -> Vec<(u64, u64, bool)> {
    let b = BLOCK as u64;
    fill(srv, rid, b, b, 0x11);
    fill(srv, rid, 4 * b, 2 * b, 0x22);
    fill(srv, rid, 16 * b, 4 * KIB, 0x33);
    vec![
        (0, b, true),
        (b, b, false),
        (2 * b, 2 * b, true),
        (4 * b, 2 * b, false),
        (6 * b, 10 * b, true),
        (16 * b, 4 * KIB, false),
    ]
}

/// Merges adjacent runs of the same kind (a client may split its queries).
fn merge(runs: impl IntoIterator<Item = (u64, u64, bool)>) -> Vec<(u64, u64, bool)> {
    let mut out: Vec<(u64, u64, bool)> = Vec::new();
    for (off, len, hole) in runs {
        match out.last_mut() {
            Some(l) if l.2 == hole && l.0 + l.1 == off => l.1 += len,
            _ => out.push((off, len, hole)),
        }
    }
    out
}

#[test]
fn nbdinfo_map_shows_exactly_the_written_extents() {
    if !have("nbdinfo") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let want = thin_layout(&srv, &v.rid);
    let o = run(Command::new("nbdinfo").args(["--map", &v.uri]));
    assert!(o.ok, "{}", o.stderr);
    // Lines: offset, length, flags, description ("hole,zero" or "data").
    let got = merge(o.stdout.lines().map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let flags: u32 = f[2].parse().unwrap();
        assert!(flags == 0 || flags == 3, "{l}");
        (f[0].parse().unwrap(), f[1].parse().unwrap(), flags == 3)
    }));
    assert_eq!(got, want, "{}", o.stdout);
}

/// The value of `"key": value` in one JSON object line of qemu-img map.
fn json_field<'a>(line: &'a str, key: &str) -> &'a str {
    let k = format!("\"{key}\": ");
    let rest = &line[line.find(&k).unwrap_or_else(|| panic!("{key} in {line}")) + k.len()..];
    rest.split([',', '}']).next().unwrap().trim()
}

#[test]
fn qemu_img_map_shows_holes_and_data() {
    if !have("qemu-img") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let want = thin_layout(&srv, &v.rid);
    let o = qemu_img(&["map", "--output=json", "-f", "raw", &v.uri]);
    let got = merge(
        o.stdout
            .lines()
            .filter(|l| l.contains("\"start\""))
            .map(|l| {
                let data = json_field(l, "data") == "true";
                let zero = json_field(l, "zero") == "true";
                assert!(data != zero, "holes read as zeros, data is data: {l}");
                (
                    json_field(l, "start").parse().unwrap(),
                    json_field(l, "length").parse().unwrap(),
                    !data,
                )
            }),
    );
    assert_eq!(got, want, "{}", o.stdout);
}

#[test]
fn nbdcopy_of_a_thin_export_is_sparse_and_identical() {
    if !have("nbdcopy") {
        return;
    }
    let srv = Server::start();
    let size = 256 * MIB;
    let v = srv.export(size, None, false);
    fill(&srv, &v.rid, 100 * MIB, BLOCK as u64, 0x42);
    let proxy = Proxy::start(srv.port);
    let tmp = tempfile::tempdir().unwrap();
    let dst = tmp.path().join("dst.raw");
    std::fs::File::create(&dst).unwrap().set_len(size).unwrap();
    let o = run(Command::new("nbdcopy").args([&proxy.uri(&v), dst.to_str().unwrap()]));
    assert!(o.ok, "{}{}", o.stdout, o.stderr);
    let sent = proxy.sent();
    eprintln!("nbdcopy of a thin 256 MiB export: {sent} bytes from the server");
    assert!(sent < 16 * MIB, "server sent {sent} bytes");
    let md = std::fs::metadata(&dst).unwrap();
    assert!(md.blocks() * 512 <= 8 * MIB, "copy is not sparse");
    let copy = std::fs::read(&dst).unwrap();
    let b = BLOCK as usize;
    let at = 100 * MIB as usize;
    assert!(all(&copy[..at], 0) && all(&copy[at + b..], 0));
    assert!(all(&copy[at..at + b], 0x42));
}

#[test]
fn structured_reads_across_data_and_hole_boundaries() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    thin_layout(&srv, &v.rid);
    // qemu-io negotiates structured replies; each read crosses a boundary
    // between data and hole, or spans several of them.
    qemu_io(
        &v.uri,
        &[
            s("read -P 0 0 256k"),
            s("read -P 0x11 256k 256k"),
            s("read -P 0 250k 6k"),
            s("read -P 0x11 256k 100k"),
            s("read -P 0 512k 512k"),
            s("read -P 0x22 1M 512k"),
            s("read -P 0 1536k 2560k"),
            s("read -P 0x33 4M 4k"),
            s("read -v 255k 2k"),
        ],
    );
    let out = qemu_io(&v.uri, &[s("read -v 255k 2k")]);
    // 1 KiB of zeros then 1 KiB of 0x11.
    assert!(out.contains("0003fc00:  00 00"), "{out}");
    assert!(out.contains("00040000:  11 11"), "{out}");
    // The same bytes over simple replies (the raw client does not
    // negotiate structured replies).
    let (mut c, flags) = Raw::open(srv.port, &v.name);
    assert_eq!(flags & 128, 0, "SEND_DF without structured replies");
    let got = c.read(0, SIZE as u32).unwrap();
    assert_eq!(got, srv.read(&v.rid, 0, SIZE));
}

// Protocol values of the structured extensions, written out here rather
// than taken from the server's codec.
const OPT_LIST_META_CONTEXT: u32 = 9;
const OPT_SET_META_CONTEXT: u32 = 10;
const REP_META_CONTEXT: u32 = 4;
const REP_ERR_INVALID: u32 = 0x8000_0003;
const CMD_BLOCK_STATUS: u16 = 7;
const FLAG_DF: u16 = 4;
const FLAG_REQ_ONE: u16 = 8;
const SEND_DF: u16 = 128;

/// Data of LIST/SET_META_CONTEXT.
fn meta_data(name: &str, queries: &[&str]) -> Vec<u8> {
    let mut d = (name.len() as u32).to_be_bytes().to_vec();
    d.extend_from_slice(name.as_bytes());
    d.extend_from_slice(&(queries.len() as u32).to_be_bytes());
    for q in queries {
        d.extend_from_slice(&(q.len() as u32).to_be_bytes());
        d.extend_from_slice(q.as_bytes());
    }
    d
}

/// Sends a meta context option: Ok(contexts (id, name)) after the ACK, or
/// the error reply type.
fn meta(c: &mut Raw, opt: u32, name: &str, queries: &[&str]) -> Result<Vec<(u32, String)>, u32> {
    c.send_opt(opt, &meta_data(name, queries));
    let mut out = Vec::new();
    loop {
        let (o, typ, d) = c.opt_reply();
        assert_eq!(o, opt);
        match typ {
            REP_META_CONTEXT => out.push((
                u32::from_be_bytes(d[..4].try_into().unwrap()),
                String::from_utf8(d[4..].to_vec()).unwrap(),
            )),
            NBD_REP_ACK => return Ok(out),
            e => return Err(e),
        }
    }
}

/// One structured chunk: (flags, type, cookie, payload).
fn chunk(c: &mut Raw) -> (u16, u16, u64, Vec<u8>) {
    let mut h = [0u8; 20];
    c.s.read_exact(&mut h).unwrap();
    assert_eq!(&h[..4], &0x668e_33efu32.to_be_bytes(), "structured magic");
    let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
    let mut p = vec![0u8; len];
    c.s.read_exact(&mut p).unwrap();
    (
        u16::from_be_bytes([h[4], h[5]]),
        u16::from_be_bytes([h[6], h[7]]),
        u64::from_be_bytes(h[8..16].try_into().unwrap()),
        p,
    )
}

/// Every chunk of one reply, up to the one flagged DONE.
fn chunks(c: &mut Raw) -> Vec<(u16, u16, u64, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let ch = chunk(c);
        let done = ch.0 & 1 == 1;
        out.push(ch);
        if done {
            return out;
        }
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b[..4].try_into().unwrap())
}

/// Block status descriptors (length, flags) of a one-chunk reply.
fn status(c: &mut Raw, flags: u16, offset: u64, len: u32) -> Result<Vec<(u32, u32)>, u32> {
    c.request(CMD_BLOCK_STATUS, flags, 5, offset, len, &[]);
    let r = chunks(c);
    assert_eq!(r.len(), 1);
    let (_, typ, cookie, p) = &r[0];
    assert_eq!(*cookie, 5);
    match *typ {
        5 => {
            assert_eq!(be32(p), 1, "the context id SET returned");
            Ok(p[4..].chunks(8).map(|d| (be32(d), be32(&d[4..]))).collect())
        }
        0x8001 => Err(be32(p)),
        t => panic!("unexpected chunk type {t}"),
    }
}

#[test]
fn meta_context_negotiation_follows_the_spec_ordering() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let other = srv.export(SIZE, None, false);
    thin_layout(&srv, &v.rid);
    let ba = |id: u32| vec![(id, "base:allocation".to_string())];

    let mut c = Raw::connect(srv.port);
    // Extended headers are refused; a meta context needs structured
    // replies first.
    c.send_opt(NBD_OPT_EXTENDED_HEADERS, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ERR_UNSUP);
    let set = meta(&mut c, OPT_SET_META_CONTEXT, &v.name, &["base:allocation"]);
    assert_eq!(set, Err(REP_ERR_INVALID));
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, b"x");
    assert_eq!(
        c.opt_reply().1,
        REP_ERR_INVALID,
        "STRUCTURED_REPLY with data"
    );
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ACK);
    // Listing: no query or the base: wildcard lists it with id 0.
    assert_eq!(meta(&mut c, OPT_LIST_META_CONTEXT, &v.name, &[]), Ok(ba(0)));
    let l = meta(&mut c, OPT_LIST_META_CONTEXT, &v.name, &["base:"]);
    assert_eq!(l, Ok(ba(0)));
    let l = meta(
        &mut c,
        OPT_LIST_META_CONTEXT,
        &v.name,
        &["qemu:dirty-bitmap:a"],
    );
    assert_eq!(l, Ok(vec![]));
    // Unknown exports get the same refusal as GO.
    let set = meta(&mut c, OPT_SET_META_CONTEXT, "nope", &["base:allocation"]);
    assert_eq!(set, Err(NBD_REP_ERR_UNKNOWN));
    c.send_opt(OPT_SET_META_CONTEXT, &[0, 0, 0, 9]);
    assert_eq!(c.opt_reply().1, REP_ERR_INVALID);
    // Selecting ignores what it does not know; base: selects nothing.
    let q = ["x-foo:bar", "base:allocation", "base:"];
    assert_eq!(meta(&mut c, OPT_SET_META_CONTEXT, &v.name, &q), Ok(ba(1)));
    // Selected for `v`, but GO names `other`: no block status there.
    let (_, flags, _) = c.info_go(NBD_OPT_GO, &other.name).unwrap();
    assert_ne!(flags & SEND_DF, 0, "SEND_DF with structured replies");
    assert_eq!(status(&mut c, 0, 0, 4096), Err(EINVAL));

    // A later SET that selects nothing replaces the selection.
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ACK);
    let q = ["base:allocation"];
    assert_eq!(meta(&mut c, OPT_SET_META_CONTEXT, &v.name, &q), Ok(ba(1)));
    assert_eq!(meta(&mut c, OPT_SET_META_CONTEXT, &v.name, &[]), Ok(vec![]));
    c.info_go(NBD_OPT_GO, &v.name).unwrap();
    assert_eq!(status(&mut c, 0, 0, 4096), Err(EINVAL));

    // Selected for the export entered: extents as written.
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ACK);
    assert_eq!(meta(&mut c, OPT_SET_META_CONTEXT, &v.name, &q), Ok(ba(1)));
    c.info_go(NBD_OPT_GO, &v.name).unwrap();
    let k = 256 * 1024;
    assert_eq!(
        status(&mut c, 0, 0, SIZE as u32),
        Ok(vec![
            (k, 3),
            (k, 0),
            (2 * k, 3),
            (2 * k, 0),
            (10 * k, 3),
            (4096, 0)
        ])
    );
    // Unaligned, from inside a data block into a hole.
    assert_eq!(
        status(&mut c, 0, k as u64 + 512, k),
        Ok(vec![(k - 512, 0), (512, 3)])
    );
    // REQ_ONE: one extent, never longer than asked.
    assert_eq!(
        status(&mut c, FLAG_REQ_ONE, 0, SIZE as u32),
        Ok(vec![(k, 3)])
    );
    assert_eq!(status(&mut c, FLAG_REQ_ONE, 100, 1000), Ok(vec![(1000, 3)]));
    // Out of range, zero length, a foreign flag.
    assert_eq!(status(&mut c, 0, SIZE - 10, 20), Err(EINVAL));
    assert_eq!(status(&mut c, 0, 0, 0), Err(EINVAL));
    assert_eq!(status(&mut c, FLAG_DF, 0, 10), Err(EINVAL));
    // Still usable afterwards.
    assert_eq!(status(&mut c, 0, 4 * k as u64, k), Ok(vec![(k, 0)]));
}

#[test]
fn structured_read_chunks_df_and_errors() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    thin_layout(&srv, &v.rid);
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ACK);
    c.info_go(NBD_OPT_GO, &v.name).unwrap();
    let k = 256 * KIB;
    let be64 = |b: &[u8]| u64::from_be_bytes(b[..8].try_into().unwrap());

    // Hole, data, hole: three chunks, the hole ones carrying no bytes.
    c.request(CMD_READ, 0, 1, k - 4096, (k + 8192) as u32, &[]);
    let r = chunks(&mut c);
    let kinds: Vec<u16> = r.iter().map(|x| x.1).collect();
    assert_eq!(kinds, vec![2, 1, 2]);
    assert_eq!((be64(&r[0].3), be32(&r[0].3[8..])), (k - 4096, 4096));
    assert_eq!(be64(&r[1].3), k);
    assert!(all(&r[1].3[8..], 0x11) && r[1].3.len() == 8 + k as usize);
    assert_eq!((be64(&r[2].3), be32(&r[2].3[8..])), (2 * k, 4096));
    assert!(r.iter().all(|x| x.2 == 1));

    // DF: one data chunk with the zeros in it.
    c.request(CMD_READ, FLAG_DF, 2, k - 4096, 8192, &[]);
    let r = chunks(&mut c);
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1, be64(&r[0].3)), (1, k - 4096));
    assert!(all(&r[0].3[8..8 + 4096], 0) && all(&r[0].3[8 + 4096..], 0x11));

    // All hole: a single hole chunk; zero length: a lone NONE.
    c.request(CMD_READ, 0, 3, 0, 4096, &[]);
    let r = chunks(&mut c);
    assert_eq!((r.len(), r[0].1), (1, 2));
    c.request(CMD_READ, 0, 4, 0, 0, &[]);
    assert_eq!(chunks(&mut c), vec![(1, 0, 4, vec![])]);

    // Errors come as error chunks with a message, READ included.
    c.request(CMD_READ, 0, 6, SIZE, 1, &[]);
    let r = chunks(&mut c);
    assert_eq!((r.len(), r[0].1, be32(&r[0].3)), (1, 0x8001, EINVAL));
    let m = u16::from_be_bytes([r[0].3[4], r[0].3[5]]) as usize;
    assert!(m > 0 && std::str::from_utf8(&r[0].3[6..6 + m]).is_ok());
    c.request(CMD_WRITE, 0, 7, SIZE - 1, 2, &[1, 2]);
    let r = chunks(&mut c);
    assert_eq!((r[0].1, be32(&r[0].3)), (0x8001, ENOSPC));
    // A successful write may stay a simple reply.
    assert_eq!(c.cmd(CMD_WRITE, 0, 0, 4, b"abcd"), 0);
    c.request(CMD_READ, 0, 8, 0, 4, &[]);
    let r = chunks(&mut c);
    assert_eq!((r.len(), r[0].1, &r[0].3[8..]), (1, 1, &b"abcd"[..]));
}
