//! A stand-alone NBD server over the real stack (LocalStore, SQLite,
//! Archipelago) with one exported volume, for `scripts/bench-nbd.sh`.
//! It needs no `atoll` and no volume API: it creates the volume and its
//! export row itself.
//!
//!     cargo run --release -p blockd --example nbd_bench_server -- \
//!         --root /tmp/nbd-bench --port 10810 --size 1073741824 --name bench
//!
//! Prints `nbd://127.0.0.1:PORT/NAME` once listening; stops on SIGINT or
//! SIGTERM (graceful: in-flight requests finish).

use std::path::PathBuf;
use std::sync::Arc;

use archipelago::{Archipelago, Config};
use blockd::nbd::{self, NbdConfig};
use blockd::{LocalStore, StoreConfig};

struct Args {
    root: PathBuf,
    port: u16,
    size: u64,
    name: String,
    block_size: u32,
    /// Writes through the volume write log (`--wlog off` for the old path).
    wlog: bool,
    direct_io: bool,
    durable_acks: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: nbd_bench_server --root DIR --port PORT --size BYTES --name NAME [--block-size BYTES] [--wlog on|off] [--direct-io on|off] [--durable-acks on|off]"
    );
    std::process::exit(2)
}

fn parse() -> Args {
    let mut a = Args {
        root: PathBuf::new(),
        port: 0,
        size: 0,
        name: String::new(),
        block_size: Config::default().block_size,
        wlog: true,
        direct_io: blockd::wlog::WlogConfig::default().direct_io,
        durable_acks: blockd::wlog::WlogConfig::default().durable_acks,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--root" => a.root = v.into(),
            "--port" => a.port = v.parse().unwrap_or_else(|_| usage()),
            "--size" => a.size = v.parse().unwrap_or_else(|_| usage()),
            "--name" => a.name = v,
            "--block-size" => a.block_size = v.parse().unwrap_or_else(|_| usage()),
            "--wlog" => a.wlog = v == "on",
            "--direct-io" => a.direct_io = v == "on",
            "--durable-acks" => a.durable_acks = v == "on",
            _ => usage(),
        }
    }
    if a.root.as_os_str().is_empty() || a.size == 0 || a.name.is_empty() {
        usage()
    }
    a
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse();
    std::fs::create_dir_all(&args.root)?;
    let store = LocalStore::open(StoreConfig::with_root(args.root.join("blocks")))?;
    let db = db::Db::open_sqlite(&args.root.join("meta.db"), 8)?;
    let cfg = Config {
        block_size: args.block_size,
        ..Config::default()
    };
    let arch = Archipelago::new(db.clone(), Arc::new(store), cfg);
    // The volume write log in `<root>/wlog`, as `atoll serve` runs it.
    let wlog = if args.wlog {
        let wc = blockd::wlog::WlogConfig {
            direct_io: args.direct_io,
            durable_acks: args.durable_acks,
            ..Default::default()
        };
        let log = blockd::wlog::WriteLog::open_dir(args.root.join("wlog"), wc)?;
        log.attach_to(&arch);
        let destager = log.start_destager(arch.clone())?;
        Some((log, destager))
    } else {
        None
    };
    let nbd_cfg = NbdConfig {
        write_log: wlog.as_ref().map(|w| w.0.clone()),
        ..NbdConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("nbd")
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let rid = arch
            .create_rw(args.size, |_c, rid| {
                Ok::<_, archipelago::Error>(rid.to_string())
            })
            .await?;
        let row = db::exports::ExportRow {
            name: args.name.clone(),
            resource_id: rid.clone(),
            volume_id: rid.clone(),
            attachment_id: format!("bench-{rid}"),
            client_ip: None,
            readonly: false,
            created_at: db::now_micros(),
        };
        db.transaction(move |c| db::exports::insert(c, &row))
            .await?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
        let port = listener.local_addr()?.port();
        println!("nbd://127.0.0.1:{port}/{}", args.name);
        use std::io::Write;
        std::io::stdout().flush()?;
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        };
        nbd::serve(arch, db, nbd_cfg, listener, stop).await?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    if let Some((log, destager)) = wlog {
        // Write amplification: bytes on disk per byte the client wrote.
        let st = log.stats();
        eprintln!(
            "wlog: log_bytes={} destaged_bytes={} pending_bytes={} segments={}",
            st.log_bytes, st.destaged_bytes, st.pending_bytes, st.segments
        );
        destager.stop();
        log.close();
    }
    Ok(())
}
