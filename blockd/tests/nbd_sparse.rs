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
