//! A WebSocket client over real TLS, as booths and dashboards connect: MessagePack or JSON.

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rustls_pki_types::pem::PemObject;
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::harness::TestHub;

pub struct WsClient {
    pub ws: WebSocketStream<TlsStream<TcpStream>>,
    pub json: bool,
}

/// What came off the socket.
#[derive(Debug, PartialEq)]
pub enum Received {
    Message(Value),
    Closed(Option<u16>),
    Nothing,
}

#[derive(Default)]
pub struct Connect<'a> {
    pub token: Option<&'a str>,
    /// The web UI's session cookie instead of a bearer token.
    pub cookie: Option<&'a str>,
    pub protocol: Option<&'a str>,
    /// A small receive buffer, for a client that stops reading.
    pub recv_buffer: Option<u32>,
    /// Sent as the `Origin` header, as a browser does.
    pub origin: Option<&'a str>,
}

impl TestHub {
    pub fn tls(&self) -> TlsConnector {
        let pem = std::fs::read(self.data.path().join("tls/cert.pem")).unwrap();
        let mut roots = tokio_rustls::rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    /// Opens `GET /ws`; the error is the HTTP status when the upgrade is refused.
    pub async fn ws_connect(&self, options: Connect<'_>) -> Result<WsClient, u16> {
        let socket = TcpSocket::new_v4().unwrap();
        if let Some(size) = options.recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let tcp = socket.connect(self.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let tls = self.tls().connect(name, tcp).await.unwrap();
        let mut request = format!("wss://localhost:{}/ws", self.addr.port())
            .into_client_request()
            .unwrap();
        if let Some(token) = options.token {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        if let Some(cookie) = options.cookie {
            request
                .headers_mut()
                .insert("cookie", cookie.parse().unwrap());
        }
        if let Some(origin) = options.origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        if let Some(protocol) = options.protocol {
            request
                .headers_mut()
                .insert("sec-websocket-protocol", protocol.parse().unwrap());
        }
        match tokio_tungstenite::client_async(request, tls).await {
            Ok((ws, response)) => {
                let chosen = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok());
                assert_eq!(
                    chosen,
                    options.protocol.filter(|p| !p.contains(',')),
                    "the chosen subprotocol is echoed"
                );
                Ok(WsClient {
                    ws,
                    json: options.protocol == Some("boothhub.json"),
                })
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(other) => panic!("websocket connect failed: {other}"),
        }
    }

    pub async fn ws(&self, token: &str, protocol: Option<&str>) -> WsClient {
        self.ws_connect(Connect {
            cookie: None,
            token: Some(token),
            protocol,
            recv_buffer: None,
            origin: None,
        })
        .await
        .unwrap()
    }
}

impl WsClient {
    /// The close code the socket gets within `within` (messages before it are skipped);
    /// panics when it stays open.
    pub async fn close_code_within(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.receive(left).await {
                Received::Message(_) => {}
                Received::Closed(code) => return code,
                Received::Nothing => panic!("the socket was not closed within {within:?}"),
            }
        }
    }

    /// Sends a message in the connection's encoding.
    pub async fn send(&mut self, message: Value) {
        let frame = if self.json {
            Message::text(message.to_string())
        } else {
            Message::binary(rmp_serde::to_vec_named(&message).unwrap())
        };
        self.ws.send(frame).await.unwrap();
    }

    pub async fn send_raw(&mut self, frame: Message) {
        let _ = self.ws.send(frame).await;
    }

    /// The next data message or close, skipping pings and pongs.
    pub async fn receive(&mut self, within: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next()).await;
            let frame = match next {
                Err(_) => return Received::Nothing,
                Ok(None) => return Received::Closed(None),
                Ok(Some(Err(_))) => return Received::Closed(None),
                Ok(Some(Ok(frame))) => frame,
            };
            match frame {
                Message::Text(text) => {
                    assert!(
                        self.json,
                        "a MessagePack connection got a text frame: {text}"
                    );
                    return Received::Message(serde_json::from_str(&text).unwrap());
                }
                Message::Binary(bytes) => {
                    assert!(!self.json, "a JSON connection got a binary frame");
                    return Received::Message(rmp_serde::from_slice(&bytes).unwrap());
                }
                Message::Close(frame) => return Received::Closed(frame.map(|f| u16::from(f.code))),
                Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
            }
        }
    }

    /// The next message, which must come within five seconds.
    pub async fn message(&mut self) -> Value {
        match self.receive(Duration::from_secs(5)).await {
            Received::Message(value) => value,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// The next `event` message (skipping others).
    pub async fn event(&mut self) -> Value {
        loop {
            let message = self.message().await;
            if message["type"] == "event" {
                return message;
            }
        }
    }

    /// Subscribes and returns the `subscribed` answer.
    pub async fn subscribe(&mut self, streams: &[&str], resume: Option<(&str, u64)>) -> Value {
        let mut message = serde_json::json!({ "type": "subscribe", "streams": streams });
        if let Some((stream, seq)) = resume {
            message["resume"] = serde_json::json!({ stream: seq });
        }
        self.send(message).await;
        loop {
            let answer = self.message().await;
            if answer["type"] == "subscribed" || answer["type"] == "error" {
                return answer;
            }
        }
    }

    pub async fn ack(&mut self, event: &Value) {
        self.send(
            serde_json::json!({ "type": "ack", "stream": event["stream"], "seq": event["seq"] }),
        )
        .await;
    }

    /// Events until none comes for `quiet`.
    pub async fn drain_events(&mut self, quiet: Duration) -> Vec<Value> {
        let mut events = vec![];
        while let Received::Message(message) = self.receive(quiet).await {
            if message["type"] == "event" {
                events.push(message);
            }
        }
        events
    }

    pub async fn close(mut self) {
        let _ = self
            .ws
            .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            }))
            .await;
    }
}
