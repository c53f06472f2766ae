//! One writer host per volume: two NBD servers with different host ids over
//! one database (and one resource layer, as two block hosts sharing a
//! PostgreSQL deployment would). The second host cannot open a volume for
//! writing while the first has it open; it can once the first closed, or
//! once the lease of a host that crashed without releasing ran out.

// The harness is shared with other test files; this one uses part of it.
#[allow(dead_code)]
mod nbd_harness;

use std::time::{Duration, Instant};

use blockd::nbd::{self, NbdConfig};
use db::exports::ExportRow;
use nbd_harness::*;

const LEASE: Duration = Duration::from_millis(1200);

fn cfg(host: &str) -> NbdConfig {
    NbdConfig {
        host_id: host.to_string(),
        owner_lease: LEASE,
        ..nbd_config()
    }
}

/// A second NBD server over `srv`'s database and resource layer.
struct Peer {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Peer {
    fn start(srv: &Server, cfg: NbdConfig) -> Peer {
        let listener = srv
            .rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = srv.rt.spawn(nbd::serve(
            srv.arch().clone(),
            srv.db.clone(),
            cfg,
            listener,
            async {
                let _ = rx.await;
            },
        ));
        Peer {
            port,
            stop: Some(tx),
            task: Some(task),
        }
    }

    fn shutdown(&mut self, srv: &Server) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        srv.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await })
            .expect("serve did not return")
            .unwrap()
            .unwrap();
    }
}

fn go(port: u16, name: &str) -> Result<Raw, u32> {
    let mut c = Raw::connect(port);
    c.info_go(NBD_OPT_GO, name).map(|_| c)
}

fn info(port: u16, name: &str) -> Result<(), u32> {
    Raw::connect(port).info_go(NBD_OPT_INFO, name).map(|_| ())
}

/// Polls `f` until it returns true or `within` passes.
fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn owner(srv: &Server, rid: &str) -> Option<db::owners::OwnerRow> {
    let rid = rid.to_string();
    srv.rt
        .block_on(srv.db.run(move |c| db::owners::holder(c, &rid)))
        .unwrap()
}

/// Another export (attachment) of the existing resource `rid`; its name.
fn export_of(srv: &Server, rid: &str, readonly: bool) -> String {
    let name = format!("exp-{}", archipelago::new_id());
    let row = ExportRow {
        name: name.clone(),
        resource_id: rid.to_string(),
        volume_id: format!("vol-{rid}"),
        attachment_id: format!("att-{}", archipelago::new_id()),
        client_ip: None,
        readonly,
        created_at: db::now_micros(),
    };
    srv.rt
        .block_on(srv.db.transaction(move |c| db::exports::insert(c, &row)))
        .unwrap();
    name
}

fn disconnect(mut c: Raw) {
    c.request(CMD_DISC, 0, 1, 0, 0, &[]);
    assert!(c.closed());
}

#[test]
fn second_host_cannot_write_while_the_first_has_it_open() {
    let srv = Server::start_with(cfg("host-a"));
    let mut b = Peer::start(&srv, cfg("host-b"));
    let v = srv.export(SIZE, None, false);
    let mut a1 = go(srv.port, &v.name).expect("first host refused");
    assert_eq!(a1.cmd(CMD_WRITE, FLAG_FUA, 0, 4096, &[0xa1; 4096]), 0);
    assert_eq!(owner(&srv, &v.rid).unwrap().host_id, "host-a");
    // Another host: GO refused, and INFO answers as GO would.
    assert_eq!(go(b.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
    assert_eq!(info(b.port, &v.name), Err(NBD_REP_ERR_POLICY));
    // A second connection of the same host shares the claim.
    let mut a2 = go(srv.port, &v.name).expect("same host refused");
    assert_eq!(a2.read(0, 4096).unwrap(), vec![0xa1; 4096]);
    // Longer than a lease: renewal keeps the claim, b is still refused.
    std::thread::sleep(LEASE + LEASE / 2);
    assert_eq!(go(b.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
    assert_eq!(a1.cmd(CMD_WRITE, 0, 4096, 4096, &[0xa2; 4096]), 0);
    // One connection closes: the other still holds the claim.
    disconnect(a1);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(go(b.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
    // The last one closes: the claim is released at once (no lease wait).
    disconnect(a2);
    assert!(
        eventually(Duration::from_millis(500), || owner(&srv, &v.rid).is_none()),
        "claim not released after the last connection closed"
    );
    let mut bc = go(b.port, &v.name).expect("second host refused after release");
    assert_eq!(bc.read(0, 4096).unwrap(), vec![0xa1; 4096]);
    assert_eq!(bc.cmd(CMD_WRITE, FLAG_FUA, 8192, 4096, &[0xb1; 4096]), 0);
    assert_eq!(owner(&srv, &v.rid).unwrap().host_id, "host-b");
    // Now the first host is the one refused; read-only access needs no
    // claim, so a read-only export of the volume still opens there.
    assert_eq!(go(srv.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
    let ro = export_of(&srv, &v.rid, true);
    let mut r = go(srv.port, &ro).expect("read-only export refused");
    assert_eq!(r.read(8192, 4096).unwrap(), vec![0xb1; 4096]);
    disconnect(bc);
    b.shutdown(&srv);
}

#[test]
fn crashed_hosts_claim_is_taken_over_after_its_lease() {
    let srv = Server::start_with(cfg("host-a"));
    let v = srv.export(SIZE, None, false);
    // A host that crashed while exporting the volume: its claim is in the
    // database, nobody renews or releases it.
    let rid = v.rid.clone();
    let now = db::now_micros();
    let until = now + LEASE.as_micros() as i64;
    let claimed = srv
        .rt
        .block_on(
            srv.db
                .transaction(move |c| db::owners::claim(c, &rid, "crashed-host", now, until)),
        )
        .unwrap();
    assert_eq!(claimed, db::owners::Claim::Granted);
    let started = Instant::now();
    assert_eq!(go(srv.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
    // EXPORT_NAME has no error reply: the refusal is a disconnect.
    let mut old = Raw::connect(srv.port);
    old.send_opt(1, v.name.as_bytes());
    assert!(old.closed(), "EXPORT_NAME opened a volume held elsewhere");
    assert!(
        started.elapsed() < LEASE,
        "test too slow to check the lease"
    );
    assert!(
        eventually(LEASE * 3, || go(srv.port, &v.name).is_ok()),
        "expired claim never taken over"
    );
    let h = owner(&srv, &v.rid).unwrap();
    assert_eq!(h.host_id, "host-a");
    assert!(h.acquired_at > now, "take-over did not reset acquired_at");
}

#[test]
fn a_lost_claim_closes_the_hosts_connections() {
    let srv = Server::start_with(cfg("host-a"));
    let v = srv.export(SIZE, None, false);
    let mut c = go(srv.port, &v.name).unwrap();
    assert_eq!(c.cmd(CMD_WRITE, 0, 0, 4096, &[1; 4096]), 0);
    // Another host took the claim over (this one was cut off from the
    // database past its lease): its next renewal finds out and the
    // connection closes, as for a detach.
    let rid = v.rid.clone();
    srv.rt
        .block_on(srv.db.transaction(move |c| {
            db::owners::release(c, &rid, "host-a")?;
            let far = db::now_micros() + 3_600_000_000;
            db::owners::claim(c, &rid, "thief", db::now_micros(), far)
        }))
        .unwrap();
    c.s.set_read_timeout(Some(LEASE * 2)).unwrap();
    assert!(c.closed(), "connection outlived its lost claim");
    // Closing did not release the other host's claim.
    assert_eq!(owner(&srv, &v.rid).unwrap().host_id, "thief");
    assert_eq!(go(srv.port, &v.name).err(), Some(NBD_REP_ERR_POLICY));
}
