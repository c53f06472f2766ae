//! The volume write log end to end: real LocalStore, SQLite and
//! Archipelago behind the NBD server, qemu-io as the client. Writes are
//! read back while pending, after destage, through a snapshot, and after a
//! restart that replays the log.

// Each test binary compiles the shared harness whole; this one uses only
// part of it.
#[allow(dead_code)]
mod nbd_harness;

use nbd_harness::*;

fn snapshot(srv: &Server, rid: &str) -> String {
    srv.rt
        .block_on(
            srv.arch()
                .snapshot(rid, |_c, r| Ok::<_, archipelago::Error>(r.to_string())),
        )
        .unwrap()
}

#[test]
fn writes_read_back_pending_destaged_in_snapshots_and_after_replay() {
    if !have("qemu-io") {
        return;
    }
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    qemu_io(
        &v.uri,
        &[
            s("write -P 0x11 4k 4k"),
            s("write -P 0x22 300k 600k"),
            s("write -f -P 0x33 1M 8k"),
            s("flush"),
        ],
    );
    // Pending: nothing in the map yet (no block was rewritten), but every
    // read sees the writes.
    let st = srv.wlog.stats();
    assert!(st.pending_bytes >= 612 * KIB, "{st:?}");
    assert_eq!(st.destaged_bytes, 0);
    qemu_io(
        &v.uri,
        &[
            s("read -P 0x11 4k 4k"),
            s("read -P 0 0 4k"),
            s("read -P 0x22 300k 600k"),
            s("read -P 0x33 1M 8k"),
        ],
    );
    // A snapshot holds everything acknowledged before it (settle).
    let snap = snapshot(&srv, &v.rid);
    assert_eq!(srv.wlog.stats().pending_bytes, 0);
    assert!(all(&srv.read(&snap, 300 * KIB, 600 * KIB), 0x22));
    assert!(all(&srv.read(&snap, 4 * KIB, 4 * KIB), 0x11));
    // Writes after the snapshot reach the volume only.
    qemu_io(&v.uri, &[s("write -P 0x44 4k 4k")]);
    assert!(all(&srv.read(&v.rid, 4 * KIB, 4 * KIB), 0x44));
    assert!(all(&srv.read(&snap, 4 * KIB, 4 * KIB), 0x11));
    // TRIM of whole blocks becomes holes once destaged.
    let bs = BLOCK as u64;
    qemu_io(&v.uri, &[s(format!("discard {} {}", 2 * bs, 2 * bs))]);
    qemu_io(&v.uri, &[s(format!("read -P 0 {} {}", 2 * bs, 2 * bs))]);
    srv.settle(&v.rid);
    assert_eq!(srv.holes(&v.rid, 2..4), vec![2, 3]);
    qemu_io(&v.uri, &[s("read -P 0x44 4k 4k"), s("read -P 0x33 1M 8k")]);
    // Pending writes survive a restart: a fresh stack replays the log.
    qemu_io(&v.uri, &[s("write -P 0x55 2M 12k"), s("flush")]);
    let dir = srv.stop_all();
    let srv = Server::start_in(dir, nbd_config(), wlog_config());
    assert!(srv.wlog.stats().pending_bytes >= 12 * KIB);
    let uri = format!("nbd://127.0.0.1:{}/{}", srv.port, v.name);
    qemu_io(
        &uri,
        &[
            s("read -P 0x55 2M 12k"),
            s("read -P 0x44 4k 4k"),
            s("read -P 0x33 1M 8k"),
        ],
    );
    srv.settle(&v.rid);
    qemu_io(&uri, &[s("read -P 0x55 2M 12k")]);
    // The log shrinks once nothing needs its old segments.
    srv.wlog.trim().unwrap();
    assert!(srv.wlog.stats().segments <= 2, "{:?}", srv.wlog.stats());
}

#[test]
fn background_destager_drains_and_deleted_volumes_drop_their_records() {
    if !have("qemu-io") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wcfg = blockd::wlog::WlogConfig {
        destage_delay: std::time::Duration::from_millis(50),
        ..wlog_config()
    };
    let srv = Server::start_in(dir, nbd_config(), wcfg);
    let v = srv.export(SIZE, None, false);
    qemu_io(
        &v.uri,
        &[s("write -P 0x66 0 1M"), s("write -P 0x67 100k 4k")],
    );
    let t0 = std::time::Instant::now();
    while srv.wlog.stats().pending_bytes > 0 {
        assert!(t0.elapsed().as_secs() < 30, "destager did not drain");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    qemu_io(
        &v.uri,
        &[s("read -P 0x66 0 100k"), s("read -P 0x67 100k 4k")],
    );
    // A volume whose resource is gone: its records are dropped.
    srv.rt
        .block_on(srv.wlog.write(
            &archipelago::new_id(),
            0,
            bytes::Bytes::from(vec![1u8; 4096]),
            false,
        ))
        .unwrap();
    let t0 = std::time::Instant::now();
    while srv.wlog.stats().pending_bytes > 0 {
        assert!(
            t0.elapsed().as_secs() < 30,
            "records of a missing volume stayed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_busy_volume_coalesces_in_the_log_and_old_writes_still_destage() {
    // Overwrites of a hot range stay in the log while the volume is busy
    // (no 4 MiB rewrite per burst); a record older than the max age is
    // destaged even so; once the volume goes idle the rest follows.
    let dir = tempfile::tempdir().unwrap();
    let wcfg = blockd::wlog::WlogConfig {
        destage_delay: std::time::Duration::from_millis(600),
        destage_max_age: std::time::Duration::from_millis(1500),
        ..wlog_config()
    };
    let srv = Server::start_in(dir, nbd_config(), wcfg);
    let v = srv.export(SIZE, None, false);
    let bs = BLOCK as u64;
    let write = |off: u64, tag: u8| {
        srv.rt
            .block_on(
                srv.wlog
                    .write(&v.rid, off, bytes::Bytes::from(vec![tag; 4096]), false),
            )
            .unwrap()
    };
    write(bs, 0x70); // block 1, once
    let t0 = std::time::Instant::now();
    let mut n = 0u8;
    let mut old_destaged_at = None;
    // Keep block 0 hot (a write every 50 ms) for 3.5 s.
    while t0.elapsed() < std::time::Duration::from_millis(3500) {
        n = n.wrapping_add(1);
        write(0, n);
        if old_destaged_at.is_none() && srv.wlog.pending(&v.rid, bs, 2 * bs).is_empty() {
            old_destaged_at = Some(t0.elapsed());
            // The hot range is still pending: only the old record went.
            assert!(!srv.wlog.pending(&v.rid, 0, 4096).is_empty());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let at = old_destaged_at.expect("a record past the max age was never destaged");
    assert!(
        at >= std::time::Duration::from_millis(1400),
        "destaged early: {at:?}"
    );
    // ~70 writes to block 0 while busy: none of them rewrote it.
    assert_eq!(
        srv.wlog.stats().destaged_bytes,
        bs,
        "{:?}",
        srv.wlog.stats()
    );
    assert!(all(&srv.read(&v.rid, bs, 4096), 0x70));
    // Idle: the hot range is destaged once, with its newest content.
    let t1 = std::time::Instant::now();
    while srv.wlog.stats().pending_bytes > 0 {
        assert!(t1.elapsed().as_secs() < 30, "idle volume not destaged");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(srv.wlog.stats().destaged_bytes, 2 * bs);
    assert!(all(&srv.read(&v.rid, 0, 4096), n));
}
