//! Start-up and shutdown of `boothhub serve`: store → actors (rehydrated) → first super admin
//! → router → TLS listener; on SIGINT/SIGTERM: stop accepting, drain requests, stop actors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use boothhub_actors::clock::SystemClock;
use boothhub_actors::cluster::{Cluster, ConnectionCount};
use boothhub_actors::context::HubSettings;
use boothhub_actors::directory::UserInput;
use boothhub_actors::domain::rate::RateLimit;
use boothhub_actors::domain::records::Role;
use boothhub_actors::hub::Hub;
use boothhub_actors::store::embedded::EmbeddedStore;
use boothhub_actors::store::scylla::{ScyllaSettings, ScyllaStore};
use boothhub_actors::store::{ClusterStore, Store};
use tracing::{info, warn};

use crate::app;
use crate::auth::password;
use crate::config::{Config, StoreKind};
use crate::conn::{ConnLimits, CountingAcceptor};
use crate::peer::PeerLink;
use crate::state::AppState;
use crate::token_sockets::TokenSockets;
use crate::{telemetry, tls};

/// The close code WebSocket clients get at shutdown (RFC 6455: going away).
const CLOSE_GOING_AWAY: u16 = 1001;

/// How long in-flight requests get to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(10);
/// How long the WebSockets get, after the requests, to send their close frames: with `DRAIN`
/// the hub exits within 15 s of SIGTERM (contract §8).
const SOCKETS_DRAIN: Duration = Duration::from_secs(3);

/// The configured store, and what several nodes share through it when it is the CQL store.
pub struct OpenStore {
    pub store: Arc<dyn Store>,
    pub cluster: Option<Arc<dyn ClusterStore>>,
}

/// The CQL store's settings from the config.
pub fn scylla_settings(config: &Config) -> ScyllaSettings {
    ScyllaSettings {
        nodes: config.scylla.nodes.clone(),
        keyspace: config.scylla.keyspace.clone(),
        replication: config.scylla.replication.clone(),
    }
}

/// Opens the configured store, applying its schema.
pub async fn open_store(config: &Config) -> anyhow::Result<OpenStore> {
    crate::files::private_dir(&config.data_dir).with_context(|| {
        format!(
            "cannot create the data dir {} (BOOTHHUB_DATA_DIR)",
            config.data_dir.display()
        )
    })?;
    match config.store {
        StoreKind::Embedded => {
            let dir = config.data_dir.clone();
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&dir))
                .await
                .context("opening the embedded store")??;
            info!(path = %store.path().display(), "embedded store open");
            Ok(OpenStore {
                store: Arc::new(store),
                cluster: None,
            })
        }
        StoreKind::Scylla => {
            let settings = scylla_settings(config);
            let store = ScyllaStore::connect(&settings).await.with_context(|| {
                format!(
                    "opening the ScyllaDB store (BOOTHHUB_SCYLLA_NODES={})",
                    settings.nodes.join(",")
                )
            })?;
            info!(nodes = %settings.nodes.join(","), keyspace = %settings.keyspace, "ScyllaDB store open");
            let store = Arc::new(store);
            Ok(OpenStore {
                store: Arc::clone(&store) as _,
                cluster: Some(store),
            })
        }
    }
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    config.check_serve()?;
    telemetry::init_logs(config.log_format);
    let metrics = telemetry::init_metrics();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Every booth holds a socket: raise the open-file limit to the hard limit.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(limit, "open-file limit"),
        Err(err) => warn!(error = %err, "could not raise the open-file limit"),
    }
    info!(source = %config.source, store = ?config.store, data_dir = %config.data_dir.display(), "starting boothhub");

    let OpenStore {
        store,
        cluster: cluster_store,
    } = open_store(&config).await?;
    let arrival = config.rate_limits.arrival();
    let settings = HubSettings {
        scan_limit: RateLimit {
            per_minute: arrival.per_minute,
            burst: arrival.burst,
        },
        retry_base: Duration::from_millis(config.ws.retry_base_ms),
        max_streams: config.ws.max_streams,
        max_unacked: config.ws.max_unacked,
        clustered: config.cluster.listen.is_some(),
        ..HubSettings::default()
    };
    let hub = Arc::new(
        Hub::start(store, Arc::new(SystemClock), settings)
            .await
            .context("starting the hub")?,
    );
    ensure_super_admin(&hub, &config).await?;

    let tls_files = tls::files(&config)?;
    if tls_files.generated {
        info!(cert = %tls_files.cert.display(), key = %tls_files.key.display(), "generated a self-signed TLS certificate");
    } else {
        info!(cert = %tls_files.cert.display(), key = %tls_files.key.display(), "using TLS certificate");
    }
    let rustls = tls::rustls_config(&tls_files).await?;

    let listener = listen(&config)
        .with_context(|| format!("cannot listen on {} (BOOTHHUB_LISTEN)", config.listen))?;
    let token_sockets = Arc::new(TokenSockets::new(config.ws.max_connections_per_token));
    let https = listener.local_addr()?;
    // Bound before joining, so that peers find it listening once they know this node.
    let peer_listener =
        match &config.cluster.listen {
            Some(address) => Some(listen_peers(address).await.with_context(|| {
                format!("cannot listen on {address} (BOOTHHUB_CLUSTER_LISTEN)")
            })?),
            None => None,
        };
    let cluster = join(&config, https, &hub, cluster_store, &token_sockets).await?;
    let peer = match &config.cluster.secret {
        Some(secret) if cluster.is_clustered() => Some(Arc::new(
            PeerLink::new(
                cluster.id(),
                config.cluster.address().unwrap_or_default(),
                secret,
            )
            .context("building the node-to-node client")?,
        )),
        _ => None,
    };
    let revoked = Arc::clone(&token_sockets);
    cluster.on_revocation(Arc::new(move |revocation| {
        revoked.apply(revocation);
    }));
    let state = AppState::new(
        Arc::clone(&hub),
        Arc::new(config.clone()),
        metrics,
        Arc::clone(&token_sockets),
        Arc::clone(&cluster),
        peer.clone(),
    );
    let peer_handle = axum_server::Handle::new();
    if let (Some(listener), Some(peer)) = (peer_listener, peer) {
        let peers = app::peer_router(state.clone(), peer);
        let server =
            axum_server::from_tcp_rustls(listener, rustls.clone()).handle(peer_handle.clone());
        info!(addr = %config.cluster.listen.as_deref().unwrap_or_default(), "listening for the other nodes");
        tokio::spawn(async move {
            if let Err(err) = server
                .serve(peers.into_make_service_with_connect_info::<SocketAddr>())
                .await
            {
                warn!(error = %err, "the node-to-node listener stopped");
            }
        });
    }
    let sockets = Arc::clone(&state.token_sockets);
    let socket_tasks = state.socket_tasks.clone();
    let app = app::router(state);
    let handle = axum_server::Handle::new();
    tokio::spawn(close_expired_sockets(
        Arc::clone(&sockets),
        Arc::clone(&hub),
    ));
    tokio::spawn(shutdown_on_signal(
        handle.clone(),
        sockets,
        Arc::clone(&cluster),
    ));
    let listening = handle.clone();
    tokio::spawn(async move {
        if let Some(addr) = listening.listening().await {
            info!(addr = %addr, url = %format!("https://{addr}"), "listening");
        }
    });
    // TLS over the counting acceptor: a connection over a cap is closed before its handshake.
    let acceptor = axum_server::tls_rustls::RustlsAcceptor::new(rustls)
        .acceptor(CountingAcceptor::new(ConnLimits::new(config.http)));
    axum_server::from_tcp(listener)
        .acceptor(acceptor)
        .handle(handle)
        .serve(app.into_make_service_with_connect_info::<SocketAddr>())
        .await
        .context("serving")?;
    peer_handle.graceful_shutdown(Some(Duration::from_secs(1)));
    // Every socket was told to close at the signal; wait (boundedly) for their close frames.
    socket_tasks.close();
    if tokio::time::timeout(SOCKETS_DRAIN, socket_tasks.wait())
        .await
        .is_err()
    {
        warn!(
            websockets = socket_tasks.len(),
            "websockets still open after the drain; leaving them"
        );
    }
    info!("stopping actors");
    hub.shutdown().await;
    info!("stopped");
    Ok(())
}

/// Joins the cluster of the store when `cluster.listen` is set; else the node runs alone
/// (and gives its HTTPS address as its address).
async fn join(
    config: &Config,
    https: SocketAddr,
    hub: &Arc<Hub>,
    store: Option<Arc<dyn ClusterStore>>,
    sockets: &Arc<TokenSockets>,
) -> anyhow::Result<Arc<Cluster>> {
    let counted = Arc::clone(sockets);
    let connections: ConnectionCount = Arc::new(move || counted.total() as u64);
    let ctx = Arc::clone(hub.context());
    let children = Arc::clone(hub.children());
    match (config.cluster.address(), store) {
        (Some(address), Some(store)) => {
            Cluster::join(address.to_owned(), store, ctx, children, connections)
                .await
                .context("joining the cluster (BOOTHHUB_CLUSTER_LISTEN)")
        }
        // `check_serve` refuses a cluster address without the CQL store.
        _ => Ok(Cluster::solo(https.to_string(), ctx, children, connections)),
    }
}

/// The listening socket; accepted sockets inherit its send buffer size.
fn listen(config: &Config) -> std::io::Result<std::net::TcpListener> {
    let socket = match config.listen {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if config.socket_send_buffer_bytes > 0 {
        socket.set_send_buffer_size(config.socket_send_buffer_bytes)?;
    }
    socket.bind(config.listen)?;
    socket.listen(4096)?.into_std()
}

/// The node-to-node listening socket, at `address` (host:port).
async fn listen_peers(address: &str) -> anyhow::Result<std::net::TcpListener> {
    let addr = tokio::net::lookup_host(address)
        .await?
        .next()
        .context("the address resolves to nothing")?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    Ok(listener.into_std()?)
}

/// Creates the first super admin from `BOOTHHUB_SUPER_ADMIN_*` when there is none yet.
async fn ensure_super_admin(hub: &Hub, config: &Config) -> anyhow::Result<()> {
    let (Some(email), Some(secret)) = (&config.super_admin.email, &config.super_admin.password)
    else {
        return Ok(());
    };
    let directory = hub.directory();
    if directory.has_super_admin().await? {
        return Ok(());
    }
    let hash = password::hash(secret.clone()).await?;
    let input = UserInput {
        name: "Super Admin".into(),
        email: email.clone(),
        role: Role::SuperAdmin,
        outlet_id: None,
    };
    match directory.create_user(None, input, hash).await {
        Ok(user) => info!(user_id = %user.id, email = %user.email, "created the first super admin"),
        Err(boothhub_actors::error::HubError::EmailTaken) => {
            warn!(email = %email, "BOOTHHUB_SUPER_ADMIN_EMAIL belongs to an existing admin; no super admin created");
        }
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Every second, the WebSockets of login tokens that expired get 4401 (contract §4: within
/// 2 s of the token stopping to work).
async fn close_expired_sockets(sockets: Arc<TokenSockets>, hub: Arc<Hub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        sockets.close_expired(hub.context().clock.now());
    }
}

/// On SIGTERM or Ctrl-C: WebSocket clients get close 1001 ("going away": reconnect and
/// resume), then requests in flight get `DRAIN` to finish.
async fn shutdown_on_signal(
    handle: axum_server::Handle,
    sockets: Arc<TokenSockets>,
    cluster: Arc<Cluster>,
) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    // Out of the membership first, so that peers stop counting on this node.
    cluster.leave().await;
    let closed = sockets.close_all(CLOSE_GOING_AWAY, "the hub is shutting down");
    info!(
        websockets = closed,
        "shutdown signal received; closing sockets, draining requests"
    );
    handle.graceful_shutdown(Some(DRAIN));
}
