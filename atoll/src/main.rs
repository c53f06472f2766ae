//! `atoll`: the binary. `atoll serve` runs every API and the embedded block
//! daemon in one process; `atoll admin` manages accounts; `atoll openapi`
//! dumps the API documents; `atoll gc` and `atoll repair` are offline
//! maintenance. This crate owns configuration and wiring: it is the only
//! place where blockd's chunk store is handed to the resource layer.

mod admin;
mod config;
mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "atoll",
    version,
    about = "OpenStack-compatible unified storage (Swift, Keystone) over one resource layer"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Options every command that touches the data directory shares.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', env = "ATOLL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, env = "ATOLL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run all services on loopback (identity :5000, object-store :8080).
    Serve(serve::ServeArgs),
    /// Manage projects, users, roles; show the catalog.
    Admin {
        #[command(flatten)]
        common: Common,
        #[command(subcommand)]
        cmd: admin::AdminCmd,
    },
    /// Write one OpenAPI document per service into a directory.
    Openapi {
        #[arg(long, default_value = "openapi")]
        out: PathBuf,
    },
    /// Reclaim unreferenced blocks now (the server must be stopped).
    Gc {
        #[command(flatten)]
        common: Common,
        /// Grace period in seconds (default: the configured one).
        #[arg(long)]
        grace_secs: Option<u64>,
    },
    /// Check every fragment and rewrite missing or corrupt ones (the server
    /// must be stopped; a running server repairs on read).
    Repair {
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ATOLL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,actix_server=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Serve(args) => serve::serve(args),
        Cmd::Admin { common, cmd } => {
            let cfg = serve::load_config(&common)?;
            let db = serve::open_db(&cfg)?;
            let identity = identity::Identity::new(db, cfg.identity_config())?;
            if let Some(pw) = identity.bootstrap(cfg.identity.admin_password.clone())? {
                eprintln!("bootstrapped a new deployment; admin password (shown once): {pw}");
            }
            admin::run(cmd, &identity)
        }
        Cmd::Openapi { out } => write_openapi(&out),
        Cmd::Gc { common, grace_secs } => serve::offline(&common, |arch, _store| async move {
            let grace = grace_secs
                .map(std::time::Duration::from_secs)
                .unwrap_or(arch.config().gc_grace);
            let r = arch.gc_with_grace(grace).await?;
            println!(
                "blocks deleted: {}, orphans deleted: {}, skipped in use: {}",
                r.blocks_deleted, r.orphans_deleted, r.skipped_in_use
            );
            Ok(())
        }),
        Cmd::Repair { common } => serve::offline(&common, |_arch, store| async move {
            let r = store.repair().await?;
            println!(
                "blocks checked: {}, fragments missing: {}, corrupt: {}, rewritten: {}, unrecoverable blocks: {}",
                r.blocks_checked, r.fragments_missing, r.fragments_corrupt, r.fragments_rewritten, r.blocks_unrecoverable
            );
            Ok(())
        }),
    }
}

/// The OpenAPI documents, one per service, as pretty JSON.
pub fn openapi_documents() -> Vec<(&'static str, String)> {
    use utoipa::OpenApi;
    let pretty = |v: utoipa::openapi::OpenApi| v.to_pretty_json().unwrap_or_default() + "\n";
    vec![
        (
            "identity.json",
            pretty(identity::openapi::ApiDoc::openapi()),
        ),
        (
            "object-store.json",
            pretty(swift_api::openapi::ApiDoc::openapi()),
        ),
        ("image.json", pretty(glance_api::openapi::ApiDoc::openapi())),
        (
            "volume.json",
            pretty(cinder_api::openapi::ApiDoc::openapi()),
        ),
    ]
}

fn write_openapi(out: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    for (name, doc) in openapi_documents() {
        std::fs::write(out.join(name), doc)?;
        println!("wrote {}", out.join(name).display());
    }
    Ok(())
}
