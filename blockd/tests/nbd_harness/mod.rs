//! Shared harness of the NBD integration tests: the real stack behind a
//! running server, a command runner with a deadline for the real clients,
//! and a minimal synchronous NBD client for what the tools cannot send.
//! Protocol values are written out here rather than taken from the server's
//! codec, so the tests check the wire format independently.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use archipelago::{Archipelago, Config};
use blockd::nbd::{self, NbdConfig};
use blockd::{LocalStore, StoreConfig};
use db::exports::ExportRow;

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * 1024;
/// Small blocks so a few MiB cross many block boundaries.
pub const BLOCK: u32 = 256 << 10;
/// 16 full blocks and a 4 KiB tail block (stored inline: below the
/// threshold set in `arch_config`).
pub const SIZE: u64 = 4 * MIB + 4 * KIB;

// Protocol values, written out here rather than taken from the server's
// codec so the test checks the wire format independently.
pub const NBD_OPT_EXPORT_NAME: u32 = 1;
pub const NBD_OPT_LIST: u32 = 3;
pub const NBD_OPT_INFO: u32 = 6;
pub const NBD_OPT_GO: u32 = 7;
pub const NBD_OPT_STRUCTURED_REPLY: u32 = 8;
pub const NBD_OPT_EXTENDED_HEADERS: u32 = 11;
pub const NBD_REP_ACK: u32 = 1;
pub const NBD_REP_INFO: u32 = 3;
pub const NBD_REP_ERR_UNSUP: u32 = 0x8000_0001;
pub const NBD_REP_ERR_POLICY: u32 = 0x8000_0002;
pub const NBD_REP_ERR_UNKNOWN: u32 = 0x8000_0006;
pub const CMD_READ: u16 = 0;
pub const CMD_WRITE: u16 = 1;
pub const CMD_DISC: u16 = 2;
pub const CMD_FLUSH: u16 = 3;
pub const CMD_TRIM: u16 = 4;
pub const CMD_WRITE_ZEROES: u16 = 6;
pub const FLAG_FUA: u16 = 1;
pub const FLAG_NO_HOLE: u16 = 2;
pub const EPERM: u32 = 1;
pub const EINVAL: u32 = 22;
pub const ENOSPC: u32 = 28;

pub fn store_config(root: &Path) -> StoreConfig {
    StoreConfig {
        io_threads: 2,
        ..StoreConfig::with_root(root.join("blocks"))
    }
}

pub fn arch_config() -> Config {
    Config {
        block_size: BLOCK,
        inline_threshold: 8 << 10,
        ..Config::default()
    }
}

/// A running server over a fresh stack.
pub struct Server {
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
    pub arch: Option<Archipelago>,
    pub db: db::Db,
    pub port: u16,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The volume write log every write goes through, and its destager.
    pub wlog: blockd::wlog::WriteLog,
    pub destager: Option<blockd::wlog::destage::Destager>,
}

/// The write log of the tests: small segments, a long destage delay so
/// reads of pending writes are exercised (tests settle explicitly).
pub fn wlog_config() -> blockd::wlog::WlogConfig {
    blockd::wlog::WlogConfig {
        segment_bytes: 1 << 20,
        max_bytes: 64 << 20,
        destage_delay: Duration::from_secs(2),
        ..Default::default()
    }
}

/// The server settings of the tests: a fast re-check.
pub fn nbd_config() -> NbdConfig {
    NbdConfig {
        recheck_interval: Duration::from_millis(100),
        ..NbdConfig::default()
    }
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(nbd_config())
    }

    pub fn start_with(cfg: NbdConfig) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), cfg, wlog_config())
    }

    /// A server over the stack in `dir` (a restart when it held one
    /// before), its writes going through a write log in `dir/wlog`.
    pub fn start_in(
        dir: tempfile::TempDir,
        cfg: NbdConfig,
        wcfg: blockd::wlog::WlogConfig,
    ) -> Server {
        let wlog = blockd::wlog::WriteLog::open_dir(dir.path().join("wlog"), wcfg).unwrap();
        Server::start_with_log(dir, cfg, wlog)
    }

    /// A server over the stack in `dir` whose writes go through `wlog`
    /// (one over a test directory that can crash, say).
    pub fn start_with_log(
        dir: tempfile::TempDir,
        mut cfg: NbdConfig,
        wlog: blockd::wlog::WriteLog,
    ) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let store = LocalStore::open(store_config(dir.path())).unwrap();
        let db = db::Db::open_sqlite(&dir.path().join("meta.db"), 4).unwrap();
        let arch = Archipelago::new(db.clone(), Arc::new(store), arch_config());
        wlog.attach_to(&arch);
        let destager = Some(wlog.start_destager(arch.clone()).unwrap());
        cfg.write_log = Some(wlog.clone());
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = rt.spawn(nbd::serve(arch.clone(), db.clone(), cfg, listener, async {
            let _ = rx.await;
        }));
        Server {
            rt,
            dir,
            arch: Some(arch),
            db,
            port,
            stop: Some(tx),
            task: Some(task),
            wlog,
            destager,
        }
    }

    /// Destages every pending write now.
    pub fn settle(&self, rid: &str) {
        let (w, a) = (self.wlog.clone(), self.arch().clone());
        let rid = rid.to_string();
        self.rt
            .block_on(async move { w.settle_volume(&a, &rid).await })
            .unwrap();
    }

    /// Shuts down and stops the log; returns the directory for a restart.
    pub fn stop_all(mut self) -> tempfile::TempDir {
        self.shutdown();
        if let Some(d) = self.destager.take() {
            d.stop();
        }
        self.wlog.close();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        self.arch.take();
        dir
    }

    pub fn arch(&self) -> &Archipelago {
        self.arch.as_ref().unwrap()
    }

    /// A new volume of `size` bytes exported under a fresh name.
    pub fn export(&self, size: u64, client_ip: Option<&str>, readonly: bool) -> Vol {
        let arch = self.arch().clone();
        let rid = self
            .rt
            .block_on(arch.create_rw(size, |_c, rid| Ok::<_, archipelago::Error>(rid.to_string())))
            .unwrap();
        let name = format!("exp-{}", archipelago::new_id());
        let row = ExportRow {
            name: name.clone(),
            resource_id: rid.clone(),
            volume_id: format!("vol-{rid}"),
            attachment_id: format!("att-{rid}"),
            client_ip: client_ip.map(str::to_string),
            readonly,
            created_at: db::now_micros(),
        };
        self.rt
            .block_on(self.db.transaction(move |c| db::exports::insert(c, &row)))
            .unwrap();
        Vol {
            uri: format!("nbd://127.0.0.1:{}/{name}", self.port),
            attachment: format!("att-{rid}"),
            name,
            rid,
        }
    }

    pub fn detach(&self, vol: &Vol) {
        let att = vol.attachment.clone();
        let n = self
            .rt
            .block_on(
                self.db
                    .transaction(move |c| db::exports::delete_for_attachment(c, &att)),
            )
            .unwrap();
        assert_eq!(n, 1);
    }

    /// The volume's content as a client reads it (pending writes laid
    /// over the map).
    pub fn read(&self, rid: &str, offset: u64, len: u64) -> Vec<u8> {
        self.rt
            .block_on(self.wlog.read_at(self.arch(), rid, offset, len))
            .unwrap()
            .to_vec()
    }

    /// Map indices of `rid` that are holes among `idx`, once its pending
    /// writes are destaged.
    pub fn holes(&self, rid: &str, idx: std::ops::Range<u64>) -> Vec<u64> {
        self.settle(rid);
        let rid = rid.to_string();
        let (first, last) = (idx.start, idx.end - 1);
        let present = self
            .rt
            .block_on(self.db.run(move |c| {
                Ok((|| {
                    let row = archipelago::meta::get_resource(c, &rid)?;
                    let chain = archipelago::meta::chain(c, row.layer_id)?;
                    archipelago::meta::resolve(c, &chain, first, last)
                })())
            }))
            .unwrap()
            .unwrap();
        idx.filter(|i| !present.contains_key(i)).collect()
    }

    /// Signals shutdown and waits for `serve` to return.
    pub fn shutdown(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let task = self.task.take().unwrap();
        self.rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(20), task).await })
            .expect("serve did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

pub struct Vol {
    pub name: String,
    pub rid: String,
    pub uri: String,
    pub attachment: String,
}

/// Whether `tool` is installed; prints why a test is skipped if not.
pub fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("SKIP: {tool} is not installed (apt-get install qemu-utils libnbd-bin)");
    }
    ok
}

pub struct Out {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command with a deadline so a hung client fails the test.
pub fn run(cmd: &mut Command) -> Out {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} timed out");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn qemu_io_cmd(uri: &str, cmds: &[String]) -> Command {
    let mut c = Command::new("qemu-io");
    c.args(["-f", "raw", uri]);
    for x in cmds {
        c.args(["-c", x]);
    }
    c
}

/// Runs qemu-io commands that must all succeed (qemu-io exits 0 even when
/// a command fails, so its output is checked too).
pub fn qemu_io(uri: &str, cmds: &[String]) -> String {
    let o = run(&mut qemu_io_cmd(uri, cmds));
    let text = format!("{}{}", o.stdout, o.stderr);
    assert!(o.ok, "qemu-io failed: {text}");
    assert!(
        !text.contains("Pattern verification failed") && !text.to_lowercase().contains("failed"),
        "qemu-io reported a failure:\n{text}"
    );
    text
}

pub fn s(x: impl Into<String>) -> String {
    x.into()
}

/// A minimal synchronous NBD client.
pub struct Raw {
    pub s: TcpStream,
}

impl Raw {
    pub fn connect(port: u16) -> Raw {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut g = [0u8; 18];
        s.read_exact(&mut g).unwrap();
        assert_eq!(&g[..16], b"NBDMAGICIHAVEOPT");
        assert_eq!(u16::from_be_bytes([g[16], g[17]]) & 3, 3);
        s.write_all(&3u32.to_be_bytes()).unwrap(); // FIXED_NEWSTYLE | NO_ZEROES
        Raw { s }
    }

    pub fn send_opt(&mut self, opt: u32, data: &[u8]) {
        let mut b = b"IHAVEOPT".to_vec();
        b.extend_from_slice(&opt.to_be_bytes());
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(data);
        self.s.write_all(&b).unwrap();
    }

    /// One option reply: (option, type, data).
    pub fn opt_reply(&mut self) -> (u32, u32, Vec<u8>) {
        let mut h = [0u8; 20];
        self.s.read_exact(&mut h).unwrap();
        assert_eq!(
            u64::from_be_bytes(h[..8].try_into().unwrap()),
            0x3e889045565a9
        );
        let opt = u32::from_be_bytes(h[8..12].try_into().unwrap());
        let typ = u32::from_be_bytes(h[12..16].try_into().unwrap());
        let len = u32::from_be_bytes(h[16..20].try_into().unwrap());
        let mut d = vec![0u8; len as usize];
        self.s.read_exact(&mut d).unwrap();
        (opt, typ, d)
    }

    /// INFO or GO with a block-size request: Ok((size, flags, block sizes))
    /// or the error reply type.
    pub fn info_go(&mut self, opt: u32, name: &str) -> Result<(u64, u16, [u32; 3]), u32> {
        let mut d = (name.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(&1u16.to_be_bytes());
        d.extend_from_slice(&3u16.to_be_bytes()); // NBD_INFO_BLOCK_SIZE
        self.send_opt(opt, &d);
        let (mut size, mut flags, mut bs) = (None, 0, [0; 3]);
        loop {
            let (o, typ, data) = self.opt_reply();
            assert_eq!(o, opt);
            match typ {
                NBD_REP_INFO => match u16::from_be_bytes([data[0], data[1]]) {
                    0 => {
                        assert_eq!(data.len(), 12);
                        size = Some(u64::from_be_bytes(data[2..10].try_into().unwrap()));
                        flags = u16::from_be_bytes([data[10], data[11]]);
                    }
                    3 => {
                        assert_eq!(data.len(), 14);
                        for (i, v) in bs.iter_mut().enumerate() {
                            *v = u32::from_be_bytes(data[2 + 4 * i..6 + 4 * i].try_into().unwrap());
                        }
                    }
                    other => panic!("unexpected info {other}"),
                },
                NBD_REP_ACK => return Ok((size.expect("ACK without INFO_EXPORT"), flags, bs)),
                err => {
                    assert!(err & 0x8000_0000 != 0, "unexpected reply {err:#x}");
                    assert!(size.is_none(), "INFO sent before an error");
                    return Err(err);
                }
            }
        }
    }

    /// A connection in transmission on `name`, with its flags.
    pub fn open(port: u16, name: &str) -> (Raw, u16) {
        let mut r = Raw::connect(port);
        let (_, flags, _) = r.info_go(NBD_OPT_GO, name).expect("GO refused");
        (r, flags)
    }

    pub fn request(
        &mut self,
        kind: u16,
        flags: u16,
        cookie: u64,
        offset: u64,
        len: u32,
        data: &[u8],
    ) {
        let b = request_bytes(kind, flags, cookie, offset, len, data);
        self.s.write_all(&b).unwrap();
    }

    /// A simple reply header: (error, cookie).
    pub fn reply(&mut self) -> std::io::Result<(u32, u64)> {
        let mut h = [0u8; 16];
        self.s.read_exact(&mut h)?;
        assert_eq!(&h[..4], &0x6744_6698u32.to_be_bytes());
        Ok((
            u32::from_be_bytes(h[4..8].try_into().unwrap()),
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
        ))
    }

    pub fn cmd(&mut self, kind: u16, flags: u16, offset: u64, len: u32, data: &[u8]) -> u32 {
        self.request(kind, flags, 7, offset, len, data);
        let (err, cookie) = self.reply().unwrap();
        assert_eq!(cookie, 7);
        err
    }

    pub fn read(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, u32> {
        self.request(CMD_READ, 0, 9, offset, len, &[]);
        let (err, cookie) = self.reply().unwrap();
        assert_eq!(cookie, 9);
        if err != 0 {
            return Err(err);
        }
        let mut d = vec![0u8; len as usize];
        self.s.read_exact(&mut d).unwrap();
        Ok(d)
    }

    /// True once the server has closed the connection; false if it is
    /// still open when the read timeout expires (or sends something).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }
}

/// One request on the wire: the header and its payload.
pub fn request_bytes(
    kind: u16,
    flags: u16,
    cookie: u64,
    offset: u64,
    len: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut b = Vec::with_capacity(28 + data.len());
    b.extend_from_slice(&0x2560_9513u32.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    b.extend_from_slice(&kind.to_be_bytes());
    b.extend_from_slice(&cookie.to_be_bytes());
    b.extend_from_slice(&offset.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.extend_from_slice(data);
    b
}

pub fn all(b: &[u8], v: u8) -> bool {
    b.iter().all(|&x| x == v)
}
