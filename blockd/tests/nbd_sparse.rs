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
