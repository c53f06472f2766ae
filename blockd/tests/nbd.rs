//! The NBD server against real clients: qemu-io, qemu-img, nbdinfo and
//! nbdcopy over loopback, plus a small hand-written client for what the
//! tools cannot send (bad magic, out-of-range requests, raw option replies).
//!
//! Every test builds the real stack: a `LocalStore` in a temp dir, SQLite
//! metadata, `Archipelago`, an export row, and `blockd::nbd::serve` on its
//! own runtime at 127.0.0.1:0.

mod nbd_harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use archipelago::Archipelago;
use blockd::LocalStore;
use nbd_harness::*;

#[test]
fn qemu_io_patterns_across_blocks_holes_and_inline_tail() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    qemu_io(
        &v.uri,
        &[
            s("write -P 0xab 250k 20k"), // crosses the 256k block boundary
            s("write -P 0xcd 1M 1M"),    // four whole blocks
            s("write -P 0x22 2047k 2k"), // crosses 2M, over the last 1k of 0xcd
            s("write -P 0x11 4M 4k"),    // the inline tail block
            s("write -P 0x33 4092k 8k"), // last full block into the tail
        ],
    );
    // A second connection sees it all, holes read as zeros.
    qemu_io(
        &v.uri,
        &[
            s("read -P 0 0 250k"),
            s("read -P 0xab 250k 20k"),
            s("read -P 0 270k 754k"),
            s("read -P 0xcd 1M 1023k"),
            s("read -P 0x22 2047k 2k"),
            s("read -P 0 2049k 2043k"),
            s("read -P 0x33 4092k 8k"),
        ],
    );
    let tail = srv.read(&v.rid, 4 * MIB, 4 * KIB);
    assert!(all(&tail, 0x33));
    let data = srv.read(&v.rid, 250 * KIB, 20 * KIB);
    assert!(all(&data, 0xab));
    // Blocks 0 and 1 hold the crossing write; 2 and 3 are still holes.
    assert_eq!(srv.holes(&v.rid, 0..4), vec![2, 3]);
}

#[test]
fn trim_and_write_zeroes_over_qemu_io() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    qemu_io(
        &v.uri,
        &[
            s("write -P 0x5a 0 2M"),
            s("discard 256k 512k"),      // blocks 1 and 2: TRIM
            s("discard 1000k 100k"),     // unaligned, crosses block 4
            s("write -z 1200k 300k"),    // WRITE_ZEROES with NO_HOLE
            s("write -z -u 1536k 256k"), // WRITE_ZEROES that may punch
            s("flush"),
        ],
    );
    qemu_io(
        &v.uri,
        &[
            s("read -P 0x5a 0 256k"),
            s("read -P 0 256k 512k"),
            s("read -P 0x5a 768k 232k"),
            s("read -P 0 1000k 100k"),
            s("read -P 0x5a 1100k 100k"),
            s("read -P 0 1200k 300k"),
            s("read -P 0x5a 1500k 36k"),
            s("read -P 0 1536k 256k"),
            s("read -P 0x5a 1792k 256k"),
        ],
    );
    assert_eq!(srv.holes(&v.rid, 0..8), vec![1, 2, 6]);
}

#[test]
fn raw_trim_write_zeroes_flush_and_fua() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let (mut c, flags) = Raw::open(srv.port, &v.name);
    // HAS_FLAGS, SEND_FLUSH, SEND_FUA, SEND_TRIM, SEND_WRITE_ZEROES, CAN_MULTI_CONN.
    assert_eq!(flags, 1 | 4 | 8 | 32 | 64 | 256);
    let pat = vec![0x6bu8; MIB as usize];
    assert_eq!(c.cmd(CMD_WRITE, FLAG_FUA, 0, MIB as u32, &pat), 0);
    assert_eq!(c.cmd(CMD_TRIM, 0, 256 * KIB, 256 * KIB as u32, &[]), 0);
    assert_eq!(
        c.cmd(
            CMD_WRITE_ZEROES,
            FLAG_NO_HOLE | FLAG_FUA,
            600 * KIB,
            10,
            &[]
        ),
        0
    );
    assert_eq!(
        c.cmd(CMD_WRITE_ZEROES, 0, 768 * KIB, 256 * KIB as u32, &[]),
        0
    );
    assert_eq!(c.cmd(CMD_FLUSH, 0, 0, 0, &[]), 0);
    let got = c.read(0, MIB as u32).unwrap();
    assert!(all(&got[..256 * KIB as usize], 0x6b));
    assert!(all(&got[256 * KIB as usize..512 * KIB as usize], 0));
    assert!(all(&got[512 * KIB as usize..600 * KIB as usize], 0x6b));
    assert!(all(&got[600 * KIB as usize..600 * KIB as usize + 10], 0));
    assert!(all(&got[600 * KIB as usize + 10..768 * KIB as usize], 0x6b));
    assert!(all(&got[768 * KIB as usize..], 0));
    assert_eq!(srv.holes(&v.rid, 0..4), vec![1, 3]);
    // Zero-length requests are harmless.
    assert_eq!(c.read(0, 0).unwrap().len(), 0);
    assert_eq!(c.cmd(CMD_TRIM, 0, 0, 0, &[]), 0);
    // Pipelined: several requests before any reply, every cookie answered.
    for i in 0..8u64 {
        c.request(
            CMD_WRITE,
            0,
            100 + i,
            2 * MIB + i * 4096,
            4096,
            &[i as u8 + 1; 4096],
        );
    }
    let mut cookies: Vec<u64> = (0..8)
        .map(|_| c.reply().unwrap())
        .map(|(e, k)| {
            assert_eq!(e, 0);
            k
        })
        .collect();
    cookies.sort();
    assert_eq!(cookies, (100..108).collect::<Vec<_>>());
    let got = c.read(2 * MIB, 8 * 4096).unwrap();
    for i in 0..8 {
        assert!(all(&got[i * 4096..(i + 1) * 4096], i as u8 + 1));
    }
    c.request(CMD_DISC, 0, 1, 0, 0, &[]);
    assert!(c.closed());
}

#[test]
fn flushed_writes_survive_a_fresh_stack() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    qemu_io(
        &v.uri,
        &[
            s("write -f -P 0x77 300k 600k"), // FUA
            s("write -P 0x78 3M 64k"),
            s("flush"),
        ],
    );
    // Drop the whole stack (the write log included), then open a new one
    // on the same files: the log is replayed.
    let dir = srv.stop_all();
    let srv = Server::start_in(dir, nbd_config(), wlog_config());
    assert!(all(&srv.read(&v.rid, 300 * KIB, 600 * KIB), 0x77));
    assert!(all(&srv.read(&v.rid, 3 * MIB, 64 * KIB), 0x78));
    assert!(all(&srv.read(&v.rid, 0, 300 * KIB), 0));
    // Destaged into the map, a stack without the log reads them too.
    srv.settle(&v.rid);
    let dir = srv.stop_all();
    let store = LocalStore::open(store_config(dir.path())).unwrap();
    let db = db::Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
    let arch = Archipelago::new(db, Arc::new(store), arch_config());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let a = rt
        .block_on(arch.read_at(&v.rid, 300 * KIB, 600 * KIB))
        .unwrap();
    assert!(all(&a, 0x77));
    let b = rt
        .block_on(arch.read_at(&v.rid, 3 * MIB, 64 * KIB))
        .unwrap();
    assert!(all(&b, 0x78));
}

#[test]
fn a_flush_covers_every_write_sent_before_it() {
    // Cached acks (a write is answered once in the log's memory) over a
    // log directory that remembers what was synced: after a FLUSH is
    // answered, a crash must keep every write answered before it.
    let mem = Arc::new(blockd::wlog::io::MemDir::default());
    let wcfg = blockd::wlog::WlogConfig {
        durable_acks: false,
        destage_delay: Duration::from_secs(600),
        ..wlog_config()
    };
    let wlog = blockd::wlog::WriteLog::open(mem.clone(), wcfg.clone()).unwrap();
    let srv = Server::start_with_log(tempfile::tempdir().unwrap(), nbd_config(), wlog);
    let v = srv.export(SIZE, None, false);
    let (mut c, _) = Raw::open(srv.port, &v.name);
    const LEN: u32 = 16 << 10;
    let slots = SIZE / LEN as u64;
    for round in 0..20u64 {
        // Writes and a FLUSH pipelined in one send, so the server reads
        // them together and runs them as concurrent tasks.
        let mut wire = Vec::new();
        let mut sent = std::collections::HashMap::new();
        for i in 0..48u64 {
            let off = (round * 7 + i * 13) % slots * LEN as u64;
            let pat = (round * 48 + i) as u8 | 1;
            let data = vec![pat; LEN as usize];
            wire.extend_from_slice(&request_bytes(CMD_WRITE, 0, i + 1, off, LEN, &data));
            sent.insert(i + 1, (off, pat));
        }
        wire.extend_from_slice(&request_bytes(CMD_FLUSH, 0, 1000, 0, 0, &[]));
        c.s.write_all(&wire).unwrap();
        let mut answered = Vec::new();
        loop {
            let (err, cookie) = c.reply().unwrap();
            assert_eq!(err, 0);
            if cookie == 1000 {
                break;
            }
            answered.push(sent[&cookie]);
        }
        let crashed = Arc::new(mem.after_crash(0.0));
        let after = blockd::wlog::WriteLog::open(crashed, wcfg.clone()).unwrap();
        for (off, pat) in answered {
            let got = srv
                .rt
                .block_on(after.read_at(srv.arch(), &v.rid, off, LEN as u64))
                .unwrap();
            assert!(
                all(&got, pat),
                "round {round}: write at {off} lost after its FLUSH"
            );
        }
        after.close();
    }
}

#[test]
fn two_concurrent_clients_keep_each_others_writes() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    // Interleaved 4 KiB pieces of the same blocks: each client's writes are
    // read-modify-writes of blocks the other is changing too.
    let cmds = |first: u64, pat: u8| -> Vec<String> {
        (0..64)
            .map(|i| format!("write -P {pat:#x} {}k 4k", (2 * i + first) * 4))
            .collect()
    };
    let mut a = qemu_io_cmd(&v.uri, &cmds(0, 0xa1));
    let mut b = qemu_io_cmd(&v.uri, &cmds(1, 0xb2));
    let ta = std::thread::spawn(move || run(&mut a));
    let tb = std::thread::spawn(move || run(&mut b));
    for o in [ta.join().unwrap(), tb.join().unwrap()] {
        assert!(
            o.ok && !o.stdout.contains("failed"),
            "{}{}",
            o.stdout,
            o.stderr
        );
    }
    let got = srv.read(&v.rid, 0, 512 * KIB);
    for (i, piece) in got.chunks(4096).enumerate() {
        let want = if i % 2 == 0 { 0xa1 } else { 0xb2 };
        assert!(all(piece, want), "piece {i} lost a write");
    }
}

#[test]
fn wrong_export_name_is_refused_and_others_still_served() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let mut c = Raw::connect(srv.port);
    assert_eq!(
        c.info_go(NBD_OPT_INFO, "no-such-export"),
        Err(NBD_REP_ERR_UNKNOWN)
    );
    assert_eq!(
        c.info_go(NBD_OPT_GO, "no-such-export"),
        Err(NBD_REP_ERR_UNKNOWN)
    );
    assert_eq!(c.info_go(NBD_OPT_GO, ""), Err(NBD_REP_ERR_UNKNOWN));
    // The same connection may go on to a good name.
    let (size, _, bs) = c.info_go(NBD_OPT_INFO, &v.name).unwrap();
    assert_eq!(size, SIZE);
    assert_eq!(bs, [1, BLOCK, 32 << 20]);
    // EXPORT_NAME has no error reply: an unknown name is a disconnect.
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_EXPORT_NAME, b"no-such-export");
    assert!(c.closed());
    // EXPORT_NAME with a good name: size and flags, no zero padding.
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_EXPORT_NAME, v.name.as_bytes());
    let mut r = [0u8; 10];
    c.s.read_exact(&mut r).unwrap();
    assert_eq!(u64::from_be_bytes(r[..8].try_into().unwrap()), SIZE);
    assert_eq!(c.read(0, 512).unwrap(), vec![0; 512]);
    if have("qemu-io") {
        let bad = format!("nbd://127.0.0.1:{}/no-such-export", srv.port);
        let o = run(&mut qemu_io_cmd(&bad, &[s("read 0 512")]));
        assert!(
            !o.ok && !o.stdout.contains("read 512/512"),
            "{}{}",
            o.stdout,
            o.stderr
        );
        qemu_io(&v.uri, &[s("write -P 0x42 0 4k"), s("read -P 0x42 0 4k")]);
    }
    if have("nbdinfo") {
        let bad = format!("nbd://127.0.0.1:{}/no-such-export", srv.port);
        assert!(!run(Command::new("nbdinfo").arg(&bad)).ok);
        assert!(run(Command::new("nbdinfo").arg(&v.uri)).ok);
    }
}

#[test]
fn foreign_peer_is_refused() {
    let srv = Server::start();
    let foreign = srv.export(SIZE, Some("10.9.9.9"), false);
    let local = srv.export(SIZE, Some("127.0.0.1"), false);
    let mut c = Raw::connect(srv.port);
    assert_eq!(
        c.info_go(NBD_OPT_GO, &foreign.name),
        Err(NBD_REP_ERR_POLICY)
    );
    assert!(c.info_go(NBD_OPT_GO, &local.name).is_ok());
    if have("qemu-io") {
        let o = run(&mut qemu_io_cmd(&foreign.uri, &[s("read 0 512")]));
        assert!(
            !o.ok && !o.stdout.contains("read 512/512"),
            "{}{}",
            o.stdout,
            o.stderr
        );
        qemu_io(&local.uri, &[s("read -P 0 0 4k")]);
    }
}

#[test]
fn list_reveals_no_export_names() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let mut c = Raw::connect(srv.port);
    c.send_opt(NBD_OPT_LIST, &[]);
    let (_, typ, _) = c.opt_reply();
    assert_eq!(typ, NBD_REP_ERR_POLICY);
    // Structured replies are accepted (nbd_sparse.rs tests them); extended
    // headers are not offered, and clients fall back.
    c.send_opt(NBD_OPT_EXTENDED_HEADERS, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ERR_UNSUP);
    c.send_opt(NBD_OPT_STRUCTURED_REPLY, &[]);
    assert_eq!(c.opt_reply().1, NBD_REP_ACK);
    if have("nbdinfo") {
        let o =
            run(Command::new("nbdinfo").args(["--list", &format!("nbd://127.0.0.1:{}", srv.port)]));
        assert!(!o.stdout.contains(&v.name) && !o.stderr.contains(&v.name));
    }
}

#[test]
fn detach_cuts_live_connection_and_refuses_new_ones() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let other = srv.export(SIZE, None, false);
    let (mut c, _) = Raw::open(srv.port, &v.name);
    let (mut d, _) = Raw::open(srv.port, &other.name);
    assert!(c.read(0, 4096).is_ok());
    // Several re-check intervals pass: a live export stays open.
    std::thread::sleep(Duration::from_millis(400));
    assert!(c.read(0, 4096).is_ok());
    srv.detach(&v);
    // Closed within a few re-check intervals (the read times out at 5 s).
    c.s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(c.closed(), "connection outlived its export");
    // The other export's connection is untouched.
    assert!(d.read(0, 4096).is_ok());
    let mut n = Raw::connect(srv.port);
    assert_eq!(n.info_go(NBD_OPT_GO, &v.name), Err(NBD_REP_ERR_UNKNOWN));
    if have("qemu-io") {
        let o = run(&mut qemu_io_cmd(&v.uri, &[s("read 0 512")]));
        assert!(!o.ok, "{}{}", o.stdout, o.stderr);
    }
}

#[test]
fn out_of_range_requests_get_errors() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let (mut c, _) = Raw::open(srv.port, &v.name);
    assert_eq!(c.read(SIZE, 1), Err(EINVAL));
    assert_eq!(c.read(SIZE - 512, 1024), Err(EINVAL));
    assert_eq!(c.read(u64::MAX, 2), Err(EINVAL));
    assert_eq!(c.cmd(CMD_WRITE, 0, SIZE - 512, 1024, &[1; 1024]), ENOSPC);
    assert_eq!(c.cmd(CMD_WRITE_ZEROES, 0, SIZE, 1, &[]), ENOSPC);
    assert_eq!(c.cmd(CMD_TRIM, 0, SIZE - 1, 2, &[]), EINVAL);
    assert_eq!(c.cmd(99, 0, 0, 0, &[]), EINVAL);
    // Nothing was written, and the connection still works.
    assert_eq!(c.read(SIZE - 512, 512).unwrap(), vec![0; 512]);
    assert_eq!(c.cmd(CMD_WRITE, 0, SIZE - 512, 512, &[3; 512]), 0);
    assert_eq!(c.read(SIZE - 512, 512).unwrap(), vec![3; 512]);
    if have("qemu-io") {
        // qemu also checks bounds itself; either way the read must fail.
        let o = run(&mut qemu_io_cmd(&v.uri, &[format!("read {SIZE} 512")]));
        assert!(
            format!("{}{}", o.stdout, o.stderr).contains("read failed"),
            "{}{}",
            o.stdout,
            o.stderr
        );
    }
}

#[test]
fn bad_magic_closes_only_that_connection() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let (mut bad, _) = Raw::open(srv.port, &v.name);
    let (mut good, _) = Raw::open(srv.port, &v.name);
    bad.s
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\0")
        .unwrap();
    assert!(bad.closed());
    assert_eq!(good.cmd(CMD_WRITE, 0, 0, 4, b"good"), 0);
    assert_eq!(good.read(0, 4).unwrap(), b"good");
    // A bad option magic during the handshake closes that one too.
    let mut h = Raw::connect(srv.port);
    h.s.write_all(&[0u8; 16]).unwrap();
    assert!(h.closed());
    if have("qemu-io") {
        qemu_io(&v.uri, &[s("read -P 0 4k 4k")]);
    }
}

#[test]
fn readonly_export_refuses_writes() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, true);
    let (mut c, flags) = Raw::open(srv.port, &v.name);
    assert_eq!(flags & 2, 2, "READ_ONLY flag missing");
    assert_eq!(flags & (8 | 32 | 64), 0, "write features offered read-only");
    assert_eq!(c.cmd(CMD_WRITE, 0, 0, 4, b"nope"), EPERM);
    assert_eq!(c.cmd(CMD_TRIM, 0, 0, 4096, &[]), EPERM);
    assert_eq!(c.cmd(CMD_WRITE_ZEROES, 0, 0, 4096, &[]), EPERM);
    assert_eq!(c.cmd(CMD_FLUSH, 0, 0, 0, &[]), 0);
    assert_eq!(c.read(0, 4).unwrap(), vec![0; 4]);
    if have("qemu-io") {
        let o = run(&mut qemu_io_cmd(&v.uri, &[s("write -P 1 0 4k")]));
        let text = format!("{}{}", o.stdout, o.stderr);
        assert!(!o.ok || text.contains("failed"), "{text}");
        let o =
            run(Command::new("qemu-io").args(["-r", "-f", "raw", &v.uri, "-c", "read -P 0 0 4k"]));
        assert!(
            o.ok && !o.stdout.contains("failed"),
            "{}{}",
            o.stdout,
            o.stderr
        );
    }
}

#[test]
fn qemu_img_and_libnbd_tools_interoperate() {
    if !have("qemu-img") || !have("nbdinfo") || !have("nbdcopy") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let o = run(Command::new("nbdinfo").args(["--json", &v.uri]));
    assert!(o.ok, "{}", o.stderr);
    // nbdinfo --json prints one `"key": value` pair per line.
    let field = |k: &str| -> String {
        let key = format!("\"{k}\":");
        let line = o.stdout.lines().find(|l| l.trim_start().starts_with(&key));
        let line = line.unwrap_or_else(|| panic!("{k} missing in {}", o.stdout));
        line.trim()
            .trim_start_matches(&key)
            .trim()
            .trim_end_matches(',')
            .to_string()
    };
    assert_eq!(field("export-size"), SIZE.to_string());
    assert_eq!(field("block_size_minimum"), "1");
    assert_eq!(field("block_size_preferred"), BLOCK.to_string());
    assert_eq!(field("block_size_maximum"), (32u32 << 20).to_string());
    assert_eq!(field("is_read_only"), "false");
    for k in [
        "can_flush",
        "can_fua",
        "can_trim",
        "can_zero",
        "can_multi_conn",
    ] {
        assert_eq!(field(k), "true", "{k}");
    }

    let o = run(Command::new("qemu-img").args(["info", "-f", "raw", &v.uri]));
    assert!(
        o.ok && o.stdout.contains(&format!("({SIZE} bytes)")),
        "{}{}",
        o.stdout,
        o.stderr
    );

    // A local raw image with data, a hole and an odd pattern, converted in.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.raw");
    let mut img = vec![0u8; SIZE as usize];
    for (i, b) in img.iter_mut().enumerate() {
        if !(MIB as usize..2 * MIB as usize).contains(&i) {
            *b = (i % 251) as u8;
        }
    }
    std::fs::write(&src, &img).unwrap();
    let o = run(Command::new("qemu-img").args([
        "convert",
        "-n",
        "-f",
        "raw",
        "-O",
        "raw",
        src.to_str().unwrap(),
        &v.uri,
    ]));
    assert!(o.ok, "{}{}", o.stdout, o.stderr);
    let o = run(Command::new("qemu-img").args([
        "compare",
        "-f",
        "raw",
        "-F",
        "raw",
        src.to_str().unwrap(),
        &v.uri,
    ]));
    assert!(
        o.ok && o.stdout.contains("identical"),
        "{}{}",
        o.stdout,
        o.stderr
    );
    // And out again with libnbd's copier.
    let dst = tmp.path().join("dst.raw");
    let o = run(Command::new("nbdcopy").args([&v.uri, dst.to_str().unwrap()]));
    assert!(o.ok, "{}{}", o.stdout, o.stderr);
    assert!(
        std::fs::read(&dst).unwrap() == img,
        "nbdcopy read different bytes"
    );
    assert_eq!(srv.read(&v.rid, 0, SIZE), img);
}

#[test]
fn shutdown_finishes_requests_already_read_and_returns() {
    let mut srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let (mut c, _) = Raw::open(srv.port, &v.name);
    let (mut idle, _) = Raw::open(srv.port, &v.name);
    // Header and half the payload, then shutdown, then the rest: a request
    // whose header was read is read whole and answered before the close.
    let mut req = Vec::new();
    req.extend_from_slice(&0x2560_9513u32.to_be_bytes());
    req.extend_from_slice(&0u16.to_be_bytes());
    req.extend_from_slice(&CMD_WRITE.to_be_bytes());
    req.extend_from_slice(&5u64.to_be_bytes());
    req.extend_from_slice(&0u64.to_be_bytes());
    req.extend_from_slice(&(MIB as u32).to_be_bytes());
    req.extend(std::iter::repeat_n(0x99u8, MIB as usize));
    let half = 28 + MIB as usize / 2;
    c.s.write_all(&req[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = srv.stop.take().unwrap().send(());
    std::thread::sleep(Duration::from_millis(200));
    c.s.write_all(&req[half..]).unwrap();
    assert_eq!(c.reply().unwrap(), (0, 5));
    assert!(c.closed());
    assert!(idle.closed());
    let task = srv.task.take().unwrap();
    srv.rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await })
        .expect("serve did not return after shutdown")
        .unwrap()
        .unwrap();
    assert!(TcpStream::connect(("127.0.0.1", srv.port)).is_err());
    assert!(all(&srv.read(&v.rid, 0, MIB), 0x99));
}
