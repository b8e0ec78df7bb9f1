//! WebSocket clients of the load tool: booths (MessagePack, acking every event) and
//! dashboards (JSON). Each reports what it receives, with the instant it arrived.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use std::borrow::Cow;

use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// An event as a client received it.
#[derive(Debug)]
pub struct Receipt {
    pub client: usize,
    /// Shared by a client's receipts of one stream (no copy per event).
    pub stream: Arc<str>,
    pub seq: u64,
    /// The event's name if the run measures it (one of `push::STEPS`).
    pub kind: Option<&'static str>,
    /// The booking of a measured event (empty for the others).
    pub booking_id: String,
    pub at: Instant,
}

pub fn tls(ca: Option<&std::path::Path>) -> anyhow::Result<TlsConnector> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert?)?;
        }
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // Each booth keeps its TLS session to resume after a drop, as a real device does (the
    // default cache holds 256: a storm of thousands would all do full handshakes).
    config.resumption = tokio_rustls::rustls::client::Resumption::in_memory_sessions(SESSIONS);
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The hub's socket address from its base URL (`https://localhost:port` → 127.0.0.1:port).
pub async fn address(base: &str) -> anyhow::Result<SocketAddr> {
    let host = base.trim_start_matches("https://");
    tokio::net::lookup_host(host.replace("localhost", "127.0.0.1"))
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}"))
}

/// A TCP connection to `target`, from `source` when both are loopback addresses.
pub async fn dial(target: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = match target {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    if let Some(source) = source.filter(|_| target.ip().is_loopback()) {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let tcp = socket.connect(target).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// TLS over `tcp`, checking the hub's certificate for `localhost`.
pub async fn handshake(
    tls: &TlsConnector,
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let name = rustls_pki_types::ServerName::try_from("localhost")
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidInput, err))?;
    tls.connect(name, tcp).await
}

/// The loopback address a load client connects from: `per_address` clients share one,
/// 127.0.0.1 first, then 127.0.0.2 … 127.0.x.254 (65,024 addresses, wrapping beyond). A real
/// hub sees its booths from many addresses; one address holds only so many ephemeral ports
/// and the hub admits at most 256 connections per address that have not authenticated yet.
pub fn source(index: usize, per_address: usize) -> IpAddr {
    let n = (index / per_address.max(1)) % (256 * 254);
    IpAddr::from([127, 0, (n / 254) as u8, (n % 254) as u8 + 1])
}

pub struct Client {
    pub index: usize,
    pub token: String,
    /// JSON (dashboards) or MessagePack (booths).
    pub json: bool,
    pub subscribe: Option<String>,
    /// A booth's own stream (it is subscribed to it at connect).
    pub own_stream: Option<String>,
}

/// The fields of a server message the tool reads, borrowed from the frame.
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    booking_id: Option<Cow<'a, str>>,
}

/// How a connection ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// The hub closed it for falling behind (4008): resume.
    SlowConsumer,
    /// A reconnect storm dropped it: come back and resume.
    Dropped,
    Closed,
}

/// What a client reports to, and listens to, besides the hub.
#[derive(Clone)]
pub struct Wiring {
    pub receipts: mpsc::UnboundedSender<Receipt>,
    /// Counts the 4008 closes (the client fell behind).
    pub slow_closes: Arc<std::sync::atomic::AtomicUsize>,
    /// (client, when it was back and resumed) after a storm drop.
    pub resumed: mpsc::UnboundedSender<(usize, Instant)>,
    /// Bumped to drop this client's connection (reconnect storm), if it takes part.
    pub storm: Option<tokio::sync::watch::Receiver<u64>>,
    /// The loopback address to connect from (spreads ports over 127.0.0.x).
    pub source: Option<std::net::IpAddr>,
    /// With several hub nodes: set once the run is measured. Until then a connection that
    /// breaks or ends (its node died) moves to the next node and resumes, as a real client
    /// behind a load balancer does.
    pub failover: Option<Arc<std::sync::atomic::AtomicBool>>,
}

async fn storm_hits(storm: &mut Option<tokio::sync::watch::Receiver<u64>>) {
    match storm {
        Some(rx) => {
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// TLS sessions the tool remembers for resumption (one per client, up to this many).
const SESSIONS: usize = 50_000;

/// A socket's read buffer (see `session`).
const READ_BUFFER: usize = 16 * 1024;

/// Connects to `bases[first]`, subscribes, and reports every event; after a 4008 close (the
/// client fell behind) it reconnects and resumes from the last seq it got, as a real client
/// does. With `wiring.failover`, a connection to a node that breaks moves to the next node.
pub async fn run(
    client: Client,
    bases: Arc<[String]>,
    first: usize,
    tls: TlsConnector,
    mut wiring: Wiring,
    connected: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let mut last: Option<(Arc<str>, u64)> = None;
    let mut connected = Some(connected);
    let mut previous = None;
    let mut node = first;
    for _ in 0..100 {
        let base = &bases[node % bases.len()];
        let ended = session(
            &client,
            base,
            &tls,
            &mut wiring,
            &mut last,
            connected.take(),
            previous,
        )
        .await;
        let measured = wiring
            .failover
            .as_ref()
            .is_none_or(|done| done.load(std::sync::atomic::Ordering::SeqCst));
        let ended = match ended {
            // The node went away while the run goes on: the next one takes the client.
            Err(_) | Ok(Ended::Closed) if !measured => {
                node += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Ended::Dropped
            }
            Err(err) => return Err(err),
            Ok(Ended::Closed) => return Ok(()),
            Ok(ended) => ended,
        };
        previous = Some(ended);
    }
    Ok(())
}

async fn session(
    client: &Client,
    base: &str,
    tls: &TlsConnector,
    wiring: &mut Wiring,
    last: &mut Option<(Arc<str>, u64)>,
    connected: Option<tokio::sync::oneshot::Sender<()>>,
    // How the previous connection ended; `None` for the first one.
    previous: Option<Ended>,
) -> anyhow::Result<Ended> {
    let after_drop = previous == Some(Ended::Dropped);
    let reconnect = previous.is_some();
    let host = base.trim_start_matches("https://");
    let tcp = dial(address(base).await?, wiring.source).await?;
    let stream = handshake(tls, tcp).await?;
    let mut request = format!("wss://{host}/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {}", client.token).parse()?);
    let protocol = if client.json {
        "boothhub.json"
    } else {
        "boothhub.msgpack"
    };
    request
        .headers_mut()
        .insert("sec-websocket-protocol", protocol.parse()?);
    // tungstenite zero-fills its whole read buffer before each read: at its default 128 KiB
    // that memset was the tool's largest cost (and 1.3 GiB for 10,000 sockets), so the tool
    // measured itself more than the hub. Frames here are well under 16 KiB.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    // Back after a drop or a 4008 with nothing received yet: resume from the start, so that
    // what was published while away is replayed.
    let stream_of = client
        .subscribe
        .clone()
        .or_else(|| client.own_stream.clone());
    let resume = last.clone().or_else(|| {
        if reconnect {
            stream_of.map(|s| (Arc::<str>::from(s), 0))
        } else {
            None
        }
    });
    let subscription = match (&client.subscribe, resume.as_ref()) {
        (Some(stream), Some((_, seq))) => {
            Some(json!({ "type": "subscribe", "streams": [stream], "resume": { stream: seq } }))
        }
        (Some(stream), None) => Some(json!({ "type": "subscribe", "streams": [stream] })),
        (None, Some((stream, seq))) => {
            let stream: &str = stream;
            Some(json!({ "type": "subscribe", "streams": [stream], "resume": { stream: seq } }))
        }
        (None, None) => None,
    };
    // A booth gets a `subscribed` for its own stream at connect, and one more for a resume.
    let mut subscribed_expected = u32::from(!client.json) + u32::from(subscription.is_some());
    let mut stream_name: Option<Arc<str>> = None;
    if let Some(message) = subscription {
        ws.send(Message::text(message.to_string())).await?;
    }
    if let Some(connected) = connected {
        let _ = connected.send(());
    }
    loop {
        let frame = tokio::select! {
            frame = ws.next() => frame,
            () = storm_hits(&mut wiring.storm) => return Ok(Ended::Dropped),
        };
        let Some(frame) = frame else { break };
        let frame = frame?;
        let at = Instant::now();
        let message: Incoming<'_> = match &frame {
            Message::Text(text) => serde_json::from_str(text)?,
            Message::Binary(bytes) => rmp_serde::from_slice(bytes)?,
            Message::Close(close) => {
                let slow = close.as_ref().is_some_and(|c| u16::from(c.code) == 4008);
                if slow {
                    wiring
                        .slow_closes
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                return Ok(if slow {
                    Ended::SlowConsumer
                } else {
                    Ended::Closed
                });
            }
            _ => continue,
        };
        if message.kind == "subscribed" && subscribed_expected > 0 {
            subscribed_expected -= 1;
            if subscribed_expected == 0 && after_drop {
                let _ = wiring.resumed.send((client.index, at));
            }
        }
        if message.kind != "event" {
            continue;
        }
        let name = message.stream.unwrap_or_default();
        let stream = match &stream_name {
            Some(known) if **known == *name => Arc::clone(known),
            _ => Arc::<str>::from(&*name),
        };
        stream_name = Some(Arc::clone(&stream));
        let seq = message.seq.unwrap_or_default();
        if !client.json {
            let ack = json!({ "type": "ack", "stream": &*stream, "seq": seq });
            ws.send(Message::binary(rmp_serde::to_vec_named(&ack)?))
                .await?;
        }
        *last = Some((Arc::clone(&stream), seq));
        let kind = message
            .event
            .and_then(|event| crate::push::measured(&event));
        let booking_id = match (kind, message.booking_id) {
            (Some(_), Some(id)) => id.into_owned(),
            _ => String::new(),
        };
        let receipt = Receipt {
            client: client.index,
            stream,
            seq,
            kind,
            booking_id,
            at,
        };
        if wiring.receipts.send(receipt).is_err() {
            return Ok(Ended::Closed);
        }
    }
    Ok(Ended::Closed)
}
