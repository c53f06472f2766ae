//! Detach drains in-flight IO: when an export row disappears, the server
//! stops reading new requests on its connections, answers every request it
//! had already read (each acknowledged write is in the volume), and only
//! then closes; the writer claim is released after that, so another host
//! cannot start writing while this one still has writes in flight.

// The harness is shared with other test files; this one uses part of it.
#[allow(dead_code)]
mod nbd_harness;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use nbd_harness::*;

#[test]
fn detach_answers_requests_already_read_then_closes() {
    let srv = Server::start();
    let v = srv.export(SIZE, None, false);
    let (mut c, _) = Raw::open(srv.port, &v.name);
    // Sixteen whole-block FUA writes pipelined: each is a block write and
    // a commit, so several are still running when the detach is noticed.
    let n = 16u64;
    let len = BLOCK as usize;
    for i in 0..n {
        let data = vec![(i + 1) as u8; len];
        c.request(CMD_WRITE, FLAG_FUA, 100 + i, i * BLOCK as u64, BLOCK, &data);
    }
    srv.detach(&v);
    let detached = Instant::now();
    c.s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Every request sent before the detach was read (the server reads
    // ahead up to 64 requests and 64 MiB), so every one is answered.
    let mut seen = HashSet::new();
    for _ in 0..n {
        let (err, cookie) = c.reply().expect("connection closed before all replies");
        assert_eq!(err, 0, "write {cookie} failed");
        assert!((100..100 + n).contains(&cookie) && seen.insert(cookie));
    }
    // Then nothing more is taken: a request sent now gets no reply, and
    // the connection closes within a few re-check intervals.
    std::thread::sleep(Duration::from_millis(400));
    let late = vec![0xee; 4096];
    let _ = std::io::Write::write_all(&mut c.s, &{
        let mut b = Vec::new();
        b.extend_from_slice(&0x2560_9513u32.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&CMD_WRITE.to_be_bytes());
        b.extend_from_slice(&999u64.to_be_bytes());
        b.extend_from_slice(&(SIZE - 4096).to_be_bytes());
        b.extend_from_slice(&4096u32.to_be_bytes());
        b.extend_from_slice(&late);
        b
    });
    assert!(
        c.closed(),
        "connection still open after its export was removed"
    );
    assert!(detached.elapsed() < Duration::from_secs(5));
    // Every acknowledged write is in the volume; the late one is not.
    for i in 0..n {
        let got = srv.read(&v.rid, i * BLOCK as u64, BLOCK as u64);
        assert!(all(&got, (i + 1) as u8), "acknowledged block {i} lost");
    }
    assert!(all(&srv.read(&v.rid, SIZE - 4096, 4096), 0));
    // The claim goes with the last connection, after its writes (and
    // after the write log destaged them: another host must see them).
    let released = (0..100).any(|_| {
        let rid = v.rid.clone();
        let owner = srv
            .rt
            .block_on(srv.db.run(move |c| db::owners::holder(c, &rid)))
            .unwrap();
        owner.is_none() || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(released, "claim outlived the drained connection");
}
