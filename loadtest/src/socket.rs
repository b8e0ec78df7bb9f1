//! WebSocket clients of the load tool: booths (MessagePack, acking every event) and
//! dashboards (JSON). Each reports what it receives, with the instant it arrived.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use futures::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// An event as a client received it.
#[derive(Debug)]
pub struct Receipt {
    pub client: usize,
    pub stream: String,
    pub seq: u64,
    pub kind: String,
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
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

pub struct Client {
    pub index: usize,
    pub token: String,
    /// `None` for MessagePack.
    pub json: bool,
    pub subscribe: Option<String>,
}

/// Connects, subscribes, and reports every event until the socket closes.
pub async fn run(
    client: Client,
    base: String,
    tls: TlsConnector,
    receipts: mpsc::UnboundedSender<Receipt>,
    connected: tokio::sync::oneshot::Sender<()>,
) -> anyhow::Result<()> {
    let host = base.trim_start_matches("https://");
    let tcp = TcpStream::connect(host.replace("localhost", "127.0.0.1")).await?;
    tcp.set_nodelay(true)?;
    let name = rustls_pki_types::ServerName::try_from("localhost")?;
    let stream = tls.connect(name, tcp).await?;
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
    let (mut ws, _) = tokio_tungstenite::client_async(request, stream).await?;
    if let Some(stream) = &client.subscribe {
        let message = json!({ "type": "subscribe", "streams": [stream] });
        ws.send(Message::text(message.to_string())).await?;
    }
    let _ = connected.send(());
    while let Some(frame) = ws.next().await {
        let value: Value = match frame? {
            Message::Text(text) => serde_json::from_str(&text)?,
            Message::Binary(bytes) => rmp_serde::from_slice(&bytes)?,
            Message::Close(_) => break,
            _ => continue,
        };
        let at = Instant::now();
        if value["type"] != "event" {
            continue;
        }
        let receipt = Receipt {
            client: client.index,
            stream: value["stream"].as_str().unwrap_or_default().to_owned(),
            seq: value["seq"].as_u64().unwrap_or_default(),
            kind: value["event"].as_str().unwrap_or_default().to_owned(),
            booking_id: value["booking_id"].as_str().unwrap_or_default().to_owned(),
            at,
        };
        if !client.json {
            let ack = json!({ "type": "ack", "stream": receipt.stream, "seq": receipt.seq });
            ws.send(Message::binary(rmp_serde::to_vec_named(&ack)?))
                .await?;
        }
        if receipts.send(receipt).is_err() {
            break;
        }
    }
    Ok(())
}
