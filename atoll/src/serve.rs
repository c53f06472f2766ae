//! `atoll serve`: opens the data directory, wires the crates together and
//! runs the HTTP services and background workers until SIGTERM/SIGINT.

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use anyhow::{bail, Context};
use archipelago::{Archipelago, ChunkStore};

use crate::config::{self, FileConfig};
use crate::Common;

#[derive(clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    common: Common,
    /// Address to listen on (default 127.0.0.1).
    #[arg(long)]
    listen_host: Option<String>,
    /// Identity (Keystone) port (default 5000).
    #[arg(long)]
    identity_port: Option<u16>,
    /// Object-store (Swift) port (default 8080).
    #[arg(long)]
    object_port: Option<u16>,
    /// Image (Glance) port (default 9292).
    #[arg(long)]
    image_port: Option<u16>,
    /// Volume (Cinder) port (default 8776).
    #[arg(long)]
    volume_port: Option<u16>,
    /// NBD export port (default 10809).
    #[arg(long)]
    nbd_port: Option<u16>,
    /// Password for the bootstrap admin user (first start only).
    #[arg(long, env = "ATOLL_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: Option<String>,
}

pub fn load_config(common: &Common) -> anyhow::Result<FileConfig> {
    let mut cfg = config::load(common.config.as_deref())?;
    if let Some(d) = &common.data_dir {
        cfg.data_dir = d.clone();
    }
    cfg.validate()?;
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    Ok(cfg)
}

pub fn open_db(cfg: &FileConfig) -> anyhow::Result<db::Db> {
    Ok(db::Db::open_sqlite(&cfg.data_dir.join("meta.db"), 8)?)
}

/// Holds the data directory's lock: one server (or offline tool) at a time.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    if f.try_lock().is_err() {
        bail!("{} is in use by another atoll process", dir.display());
    }
    Ok(f)
}

/// This host's id for volume ownership (`volume_owners`), made once and
/// kept in the data directory: a restart after a crash must find its own
/// claims, not wait for their leases to run out.
fn host_id(dir: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(dir.join("host_id")) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("reading host_id"),
    }
    let id = format!("host-{}", archipelago::new_id());
    blockd::durable::write_durable(dir, "host_id", &[id.as_bytes(), b"\n"])
        .context("writing host_id")?;
    Ok(id)
}

fn open_store(cfg: &FileConfig) -> anyhow::Result<Arc<blockd::LocalStore>> {
    Ok(Arc::new(blockd::LocalStore::open(cfg.store_config())?))
}

/// Runs `f` with the resource layer over a stopped server's data directory.
pub fn offline<F, Fut>(common: &Common, f: F) -> anyhow::Result<()>
where
    F: FnOnce(Archipelago, Arc<dyn ChunkStore>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cfg = load_config(common)?;
    let _lock = lock_data_dir(&cfg.data_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let db = open_db(&cfg)?;
        let store = open_store(&cfg)?;
        let dynstore: Arc<dyn ChunkStore> = store.clone();
        let arch = Archipelago::new(db, dynstore.clone(), cfg.archipelago_config());
        let r = f(arch, dynstore).await;
        store.shutdown();
        r
    })
}

pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = load_config(&args.common)?;
    if let Some(h) = args.listen_host {
        cfg.listen.host = h;
    }
    if let Some(p) = args.identity_port {
        cfg.listen.identity_port = p;
    }
    if let Some(p) = args.object_port {
        cfg.listen.object_port = p;
    }
    if let Some(p) = args.image_port {
        cfg.listen.image_port = p;
    }
    if let Some(p) = args.volume_port {
        cfg.listen.volume_port = p;
    }
    if let Some(p) = args.nbd_port {
        cfg.listen.nbd_port = p;
    }
    if args.admin_password.is_some() {
        cfg.identity.admin_password = args.admin_password;
    }
    let _lock = lock_data_dir(&cfg.data_dir)?;
    let host_id = host_id(&cfg.data_dir)?;
    // The object-store (data path) runs on its own multi-threaded runtime,
    // apart from identity and background work. It is owned here, outside
    // any async context, so it can be shut down on every path out of run.
    let data_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers(&cfg))
        .thread_name("object-store")
        .enable_all()
        .build()?;
    // Volumes' NBD traffic gets its own runtime: a busy object upload must
    // not delay a VM's FLUSH.
    let nbd_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers(&cfg))
        .thread_name("nbd")
        .enable_all()
        .build()?;
    let r = actix_web::rt::System::new().block_on(run(
        cfg,
        data_rt.handle().clone(),
        nbd_rt.handle().clone(),
        host_id,
    ));
    nbd_rt.shutdown_timeout(Duration::from_secs(5));
    data_rt.shutdown_timeout(Duration::from_secs(5));
    r
}

fn workers(cfg: &FileConfig) -> usize {
    if cfg.listen.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        cfg.listen.workers
    }
}

/// Binds a listener for a server running on `rt`.
fn bind_on(
    rt: &tokio::runtime::Handle,
    host: &str,
    port: u16,
    what: &str,
) -> anyhow::Result<tokio::net::TcpListener> {
    let _g = rt.enter();
    let l = std::net::TcpListener::bind((host, port))
        .with_context(|| format!("binding {what} to {host}:{port}"))?;
    l.set_nonblocking(true)?;
    Ok(tokio::net::TcpListener::from_std(l)?)
}

async fn run(
    cfg: FileConfig,
    data_rt: tokio::runtime::Handle,
    nbd_rt: tokio::runtime::Handle,
    host_id: String,
) -> anyhow::Result<()> {
    let db = open_db(&cfg)?;
    let identity = identity::Identity::new(db.clone(), cfg.identity_config())?;
    let generated = identity.bootstrap(cfg.identity.admin_password.clone())?;
    let password = generated.clone().or(cfg.identity.admin_password.clone());
    let openrc = cfg.data_dir.join("openrc");
    if let Some(pw) = &password {
        write_openrc(&openrc, &cfg, pw)?;
    }

    let store = open_store(&cfg)?;
    let arch = Archipelago::new(db.clone(), store.clone(), cfg.archipelago_config());
    let swift = swift_api::Swift::new(
        arch.clone(),
        identity.clone(),
        swift_api::SwiftConfig {
            public_url: cfg.object_url(),
            operator_roles: cfg.swift.operator_roles.clone(),
            reseller_admin_role: cfg.swift.reseller_admin_role.clone(),
            ..Default::default()
        },
    );

    let workers = workers(&cfg);
    let identity_server = api_server(
        web::Data::new(identity.clone()),
        identity::configure,
        &cfg.listen.host,
        cfg.listen.identity_port,
        "identity",
        1.max(workers / 2),
    )?;
    let image_server = api_server(
        web::Data::new(glance_api::Glance::new(
            arch.clone(),
            identity.clone(),
            cfg.glance_config(),
        )),
        glance_api::configure,
        &cfg.listen.host,
        cfg.listen.image_port,
        "image",
        1.max(workers / 2),
    )?;
    let cinder = cinder_api::Cinder::new(arch.clone(), identity.clone(), cfg.cinder_config());
    {
        // Creates the configured volume types that are missing: a database
        // transaction, so off the executor.
        let c = cinder.clone();
        tokio::task::spawn_blocking(move || c.seed_types_blocking())
            .await
            .context("seeding volume types")?
            .context("seeding volume types")?;
    }
    let volume_server = api_server(
        web::Data::new(cinder),
        cinder_api::configure,
        &cfg.listen.host,
        cfg.listen.volume_port,
        "volume",
        1.max(workers / 2),
    )?;
    let object_listener = bind_on(
        &data_rt,
        &cfg.listen.host,
        cfg.listen.object_port,
        "object-store",
    )?;
    let nbd_listener = bind_on(&nbd_rt, &cfg.listen.host, cfg.listen.nbd_port, "nbd")?;
    // The volume write log: replayed before the first NBD client is
    // served (blocking file reads, off the executor); its destager runs on
    // its own thread and runtime.
    let wlog = match cfg.wlog_config() {
        Some(wc) => {
            let dir = cfg.data_dir.join("wlog");
            let log =
                tokio::task::spawn_blocking(move || blockd::wlog::WriteLog::open_dir(dir, wc))
                    .await??;
            log.attach_to(&arch);
            let destager = log.start_destager(arch.clone())?;
            Some((log, destager))
        }
        None => None,
    };
    let (stop_nbd, nbd_stopped) = tokio::sync::oneshot::channel::<()>();
    let nbd_server = nbd_rt.spawn(blockd::nbd::serve(
        arch.clone(),
        db.clone(),
        blockd::nbd::NbdConfig {
            host_id,
            write_log: wlog.as_ref().map(|w| w.0.clone()),
            // At least 4 s: renewed every quarter, with room for a slow
            // database round trip.
            owner_lease: Duration::from_secs(cfg.volumes.owner_lease_secs.max(4)),
            ..Default::default()
        },
        nbd_listener,
        async move {
            let _ = nbd_stopped.await;
        },
    ));
    let (stop_objects, objects_stopped) = tokio::sync::oneshot::channel::<()>();
    let object_server = data_rt.spawn(swift_api::serve(
        swift.clone(),
        object_listener,
        swift_api::ListenerConfig::default(),
        async move {
            let _ = objects_stopped.await;
        },
    ));

    println!(
        "atoll {} serving from {}",
        env!("CARGO_PKG_VERSION"),
        cfg.data_dir.display()
    );
    println!("  identity      {}/v3", cfg.identity_url());
    println!(
        "  object-store  {}/v1/AUTH_<project_id>   (TempAuth: {}/auth/v1.0)",
        cfg.object_url(),
        cfg.object_url()
    );
    println!("  image         {}", cfg.image_url());
    println!("  volume        {}/v3/<project_id>", cfg.volume_url());
    println!(
        "  nbd           {}:{} (attached volumes only)",
        cfg.listen.public_host, cfg.listen.nbd_port
    );
    if let Some(pw) = &generated {
        println!("  admin password (generated, shown once): {pw}");
    }
    if openrc.exists() {
        println!("  credentials:  source {}", openrc.display());
    }
    let _ = std::io::stdout().flush();

    let workers_bg = vec![
        actix_web::rt::spawn(gc_loop(
            arch.clone(),
            Duration::from_secs(cfg.gc.interval_secs),
        )),
        actix_web::rt::spawn(repair_loop(
            store.clone(),
            Duration::from_secs(cfg.gc.repair_interval_secs),
        )),
        actix_web::rt::spawn(swift_api::run_expirer(
            swift.clone(),
            Duration::from_secs(cfg.swift.expirer_interval_secs),
        )),
    ];

    let ih = identity_server.handle();
    let gh = image_server.handle();
    let vh = volume_server.handle();
    let http_tasks = [
        actix_web::rt::spawn(identity_server),
        actix_web::rt::spawn(image_server),
        actix_web::rt::spawn(volume_server),
    ];
    shutdown_signal().await;
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    // Graceful: stop accepting, let in-flight requests finish.
    let _ = stop_objects.send(());
    let _ = stop_nbd.send(());
    let _ = tokio::join!(
        ih.stop(true),
        gh.stop(true),
        vh.stop(true),
        object_server,
        nbd_server
    );
    // NBD is drained: stop destaging, then let the log write what it
    // queued (pending records stay in the log and are replayed at start).
    if let Some((log, destager)) = wlog {
        let _ = tokio::task::spawn_blocking(move || {
            destager.stop();
            log.close();
        })
        .await;
    }
    for t in http_tasks {
        let _ = t.await;
    }
    for w in workers_bg {
        w.abort();
    }
    store.shutdown();
    tracing::info!("stopped");
    Ok(())
}

/// One actix-web API server (identity, image, volume): its app holds `data`
/// and mounts the crate's routes.
fn api_server<D: Send + Sync + 'static>(
    data: web::Data<D>,
    configure: fn(&mut web::ServiceConfig),
    host: &str,
    port: u16,
    what: &str,
    workers: usize,
) -> anyhow::Result<actix_web::dev::Server> {
    Ok(
        HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
            .workers(workers)
            .on_connect(set_nodelay)
            .disable_signals()
            .bind((host, port))
            .with_context(|| format!("binding {what} to {host}:{port}"))?
            .run(),
    )
}

/// Replies are written as headers then body: without TCP_NODELAY a small
/// reply waits for the client's delayed ACK (~40 ms) under Nagle.
fn set_nodelay(conn: &dyn std::any::Any, _ext: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
        let _ = tcp.set_nodelay(true);
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn gc_loop(arch: Archipelago, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match arch.gc().await {
            Ok(r) if r.blocks_deleted + r.orphans_deleted > 0 => {
                tracing::info!(
                    deleted = r.blocks_deleted,
                    orphans = r.orphans_deleted,
                    "gc pass"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "gc pass failed"),
        }
    }
}

async fn repair_loop(store: Arc<blockd::LocalStore>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        match ChunkStore::repair(store.as_ref()).await {
            Ok(r) if r.fragments_rewritten + r.blocks_unrecoverable > 0 => tracing::warn!(
                rewritten = r.fragments_rewritten,
                unrecoverable = r.blocks_unrecoverable,
                "repair pass fixed fragments"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "repair pass failed"),
        }
    }
}

fn write_openrc(path: &PathBuf, cfg: &FileConfig, password: &str) -> anyhow::Result<()> {
    let quoted = password.replace('\'', "'\\''");
    let text = format!(
        "# atoll admin credentials for the openstack and swift clients\n\
         export OS_AUTH_URL={}/v3\n\
         export OS_AUTH_TYPE=password\n\
         export OS_IDENTITY_API_VERSION=3\n\
         export OS_USERNAME=admin\n\
         export OS_PASSWORD='{quoted}'\n\
         export OS_PROJECT_NAME=admin\n\
         export OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\n\
         export OS_REGION_NAME={}\n",
        cfg.identity_url(),
        cfg.identity.region
    );
    let tmp = path.with_extension("tmp");
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}
