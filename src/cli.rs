//! The command line: `serve`, `check-config`, `migrate`, `admin create`.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use boothhub_actors::clock::SystemClock;
use boothhub_actors::directory::{Directory, UserInput};
use boothhub_actors::domain::ids::OutletId;
use boothhub_actors::domain::records::{Role, User};
use clap::{Parser, Subcommand};

use crate::auth::password;
use anyhow::Context as _;
use boothhub_actors::store::ClusterStore as _;
use boothhub_actors::store::scylla::ScyllaStore;

use crate::config::{Config, StoreKind};
use crate::serve;

#[derive(Parser)]
#[command(
    name = "boothhub",
    version,
    about = "Booth Hub: the real-time backoffice for photo-booth operators"
)]
struct Cli {
    /// The config file (default: $BOOTHHUB_CONFIG, else config/boothhub.toml when present).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the hub: HTTPS API and WebSocket hub on BOOTHHUB_LISTEN.
    Serve,
    /// Validate the configuration and print it (secrets hidden).
    CheckConfig,
    /// Create or upgrade the store's schema, then exit.
    Migrate,
    /// Manage admin users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The nodes of the cluster (contract §8).
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// List the live nodes of the store's cluster, from their heartbeats.
    Status,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// super_admin or admin.
        #[arg(long, default_value = "super_admin")]
        role: String,
        /// Required for role admin.
        #[arg(long)]
        outlet_id: Option<OutletId>,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, config));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::serve(config).await,
        Command::CheckConfig => {
            println!("{config:#?}");
            match config.check_serve() {
                Ok(()) => println!("ok: the configuration is valid for `boothhub serve`"),
                Err(err) => println!("note: `boothhub serve` would refuse to start: {err}"),
            }
            Ok(())
        }
        Command::Cluster(ClusterCommand::Status) => cluster_status(&config).await,
        Command::Migrate => {
            serve::open_store(&config).await?;
            println!("ok: the store's schema is up to date");
            Ok(())
        }
        Command::Admin(AdminCommand::Create {
            email,
            name,
            role,
            outlet_id,
        }) => {
            let role = Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role must be super_admin or admin"))?;
            eprintln!("password (read from standard input):");
            let mut secret = String::new();
            std::io::stdin().lock().read_line(&mut secret)?;
            let secret = secret.trim_end_matches(['\r', '\n']).to_owned();
            User::validate(&name, &email, &secret, role, outlet_id)
                .map_err(|errors| anyhow::anyhow!("invalid values: {:?}", errors.0))?;
            // Only the store: no actors, no timers, so a live hub's bookings are not touched.
            let store = serve::open_store(&config).await?.store;
            let directory = Directory::new(store, std::sync::Arc::new(SystemClock));
            let hash = password::hash(secret).await?;
            let input = UserInput {
                name,
                email,
                role,
                outlet_id,
            };
            let user = directory.create_user(None, input, hash).await?;
            println!(
                "created {} {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            );
            Ok(())
        }
    }
}

/// Prints the live nodes as a table, oldest first.
async fn cluster_status(config: &Config) -> anyhow::Result<()> {
    if config.store != StoreKind::Scylla {
        println!(
            "the embedded store runs one node: there is no cluster (contract §8 needs BOOTHHUB_STORE=scylla)"
        );
        return Ok(());
    }
    // Read only: the keyspace is not created or migrated by looking at it.
    let settings = serve::scylla_settings(config);
    let cluster = ScyllaStore::connect_as_is(&settings)
        .await
        .with_context(|| {
            format!(
                "reaching the ScyllaDB store (BOOTHHUB_SCYLLA_NODES={})",
                settings.nodes.join(",")
            )
        })?;
    let mut nodes = cluster.nodes().await.with_context(|| {
        format!(
            "reading the nodes of keyspace {} (does it exist, made by boothhub serve?)",
            config.scylla.keyspace
        )
    })?;
    nodes.sort_by_key(|n| (n.started_at, n.id));
    println!(
        "{} live node(s) on keyspace {}",
        nodes.len(),
        config.scylla.keyspace
    );
    if nodes.is_empty() {
        return Ok(());
    }
    println!(
        "{:<36}  {:<21}  {:<20}  {:<20}  {:>11}  {:>8}",
        "ID", "ADDRESS", "STARTED", "LAST SEEN", "CONNECTIONS", "SESSIONS"
    );
    let when = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    for node in nodes {
        println!(
            "{:<36}  {:<21}  {:<20}  {:<20}  {:>11}  {:>8}",
            node.id.to_string(),
            node.address,
            when(node.started_at),
            when(node.last_seen_at),
            node.connections,
            node.sessions
        );
    }
    Ok(())
}
