//! The WebSocket continuation flood (contract §2, §7): an authenticated booth's WebSocket that
//! sends one message as endless fragments of 60 KiB (a Binary frame with FIN clear, then
//! Continuation frames with FIN clear), as fast as it can. The hub must close it with 1009
//! once the message passes 64 KiB, having held no more than that; the tool reconnects and
//! does it again until the time is up. Frames are written by hand: a WebSocket library
//! refuses to send a message it cannot finish.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::time::{Instant, timeout_at};

use super::raw::{self, Conn, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_CONTINUATION};
use super::{Outcomes, Tally, Target, WS_FLOOD, attacker};

/// Each fragment's payload.
const FRAGMENT: usize = 60 * 1024;

/// Connections one flooding socket opens at most.
const MAX_CONNECTIONS: usize = 20_000;

/// How long to wait after a refused upgrade before the next try.
const RETRY_AFTER_REFUSAL: Duration = Duration::from_millis(100);

pub struct Report {
    pub sockets: usize,
    /// Upgrade answers by status ("101" expected) or how the connection failed.
    pub upgrades: Outcomes,
    /// How each flooding connection ended: "close 1009", "eof without a close frame", …, with
    /// the time from the upgrade to that end.
    pub ends: Outcomes,
    /// Bytes written on each connection before its end was read.
    pub bytes_before_close: Vec<u64>,
}

pub async fn run(target: &Target, sockets: usize, deadline: Instant) -> Report {
    let tasks: Vec<_> = (0..sockets)
        .map(|n| {
            let (address, tls) = (target.address, target.tls.clone());
            let request = upgrade_request(&target.booth_token);
            tokio::spawn(async move {
                let source = attacker(WS_FLOOD, 1 + (n % 250) as u8);
                socket(address, tls, source, &request, deadline).await
            })
        })
        .collect();
    let (mut upgrades, mut ends, mut bytes) = (Tally::default(), Tally::default(), vec![]);
    for task in tasks {
        if let Ok((socket_upgrades, socket_ends, socket_bytes)) = task.await {
            upgrades.merge(socket_upgrades);
            ends.merge(socket_ends);
            bytes.extend(socket_bytes);
        }
    }
    Report {
        sockets,
        upgrades: upgrades.finish(),
        ends: ends.finish(),
        bytes_before_close: bytes,
    }
}

fn upgrade_request(token: &str) -> Vec<u8> {
    let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: boothhub.msgpack\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .into_bytes()
}

/// One flooding socket: connect, upgrade, flood until the hub ends it; again until the end.
async fn socket(
    address: std::net::SocketAddr,
    tls: tokio_rustls::TlsConnector,
    source: std::net::IpAddr,
    request: &[u8],
    deadline: Instant,
) -> (Tally, Tally, Vec<u64>) {
    let (mut upgrades, mut ends, mut bytes) = (Tally::default(), Tally::default(), vec![]);
    for _ in 0..MAX_CONNECTIONS {
        let started = Instant::now();
        if started >= deadline {
            break;
        }
        let opened = async {
            let mut conn = Conn::open(address, source, &tls)
                .await
                .map_err(|refusal| refusal.label())?;
            let status = upgrade(&mut conn.reader, &mut conn.writer, request).await?;
            Ok::<_, String>((conn, status))
        };
        let mut conn = match timeout_at(deadline, opened).await {
            Err(_) => break,
            Ok(Err(failure)) => {
                upgrades.record(failure, started.elapsed());
                tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                continue;
            }
            Ok(Ok((conn, status))) => {
                upgrades.record(status.to_string(), started.elapsed());
                if status != 101 {
                    tokio::time::sleep(RETRY_AFTER_REFUSAL).await;
                    continue;
                }
                conn
            }
        };
        let upgraded = Instant::now();
        let (end, sent) = flood(&mut conn.reader, &mut conn.writer, deadline).await;
        ends.record(end, upgraded.elapsed());
        bytes.push(sent);
    }
    (upgrades, ends, bytes)
}

/// Sends the upgrade request and reads the answer's status (101 expected).
async fn upgrade<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    reader: &mut BufReader<R>,
    writer: &mut W,
    request: &[u8],
) -> Result<u16, String> {
    writer
        .write_all(request)
        .await
        .map_err(|err| format!("upgrade not sent ({})", raw::kind(&err)))?;
    let head = raw::read_head(reader)
        .await
        .map_err(|err| format!("no upgrade answer ({})", raw::kind(&err)))?;
    Ok(head.status)
}

/// Sends fragments until the hub ends the connection; returns how it ended and the bytes
/// written by then.
async fn flood<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    reader: &mut R,
    writer: &mut W,
    deadline: Instant,
) -> (String, u64) {
    let sent = AtomicU64::new(0);
    let ended = async {
        loop {
            match raw::read_frame(reader).await {
                Ok(frame) if frame.opcode == OPCODE_CLOSE => {
                    return match frame.close_code() {
                        Some(code) => format!("close {code}"),
                        None => "close without a code".to_owned(),
                    };
                }
                // Events, pings: not what the flood waits for.
                Ok(_) => {}
                Err(err) => return format!("no close frame ({})", raw::kind(&err)),
            }
        }
    };
    tokio::pin!(ended);
    let end = tokio::select! {
        end = &mut ended => end,
        err = fragments(writer, &sent) => {
            // The hub stopped reading or closed: its close frame may be on its way.
            match tokio::time::timeout(Duration::from_secs(2), &mut ended).await {
                Ok(end) => end,
                Err(_) => format!("write failed ({}), no close frame", raw::kind(&err)),
            }
        }
        () = tokio::time::sleep_until(deadline) => "still open at the end".to_owned(),
    };
    (end, sent.load(Ordering::Relaxed))
}

/// A Binary frame with FIN clear, then Continuation frames with FIN clear, forever; returns
/// the error that stopped it. Each frame has a fresh mask, as RFC 6455 asks of a client.
async fn fragments<W: AsyncWrite + Unpin>(writer: &mut W, sent: &AtomicU64) -> std::io::Error {
    let mut opcode = OPCODE_BINARY;
    loop {
        let [a, b, c, d, ..] = *uuid::Uuid::new_v4().as_bytes();
        let frame = raw::frame(opcode, false, FRAGMENT, [a, b, c, d]);
        if let Err(err) = writer.write_all(&frame).await {
            return err;
        }
        sent.fetch_add(frame.len() as u64, Ordering::Relaxed);
        opcode = OPCODE_CONTINUATION;
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "## WebSocket continuation flood\n\n{} booth WebSocket(s) (own outlet, bearer token) each sending one message as endless {} KiB fragments (Binary FIN=0, then Continuation FIN=0) as fast as they can; after the hub ends a connection the socket reconnects, until the time is up.\n\nUpgrades:\n\n{}\nHow each flooding connection ended (latency: upgrade → end):\n\n{}",
            self.sockets,
            FRAGMENT / 1024,
            self.upgrades.markdown("upgrade answer"),
            self.ends.markdown("end")
        );
        let mut bytes = self.bytes_before_close.clone();
        bytes.sort_unstable();
        if let (Some(min), Some(max)) = (bytes.first(), bytes.last()) {
            let _ = writeln!(
                md,
                "\nBytes written before the end was read: {} connections, {min} / {} / {max} (min / median / max).",
                bytes.len(),
                bytes[bytes.len() / 2]
            );
        }
        md
    }

    pub fn json(&self) -> Value {
        json!({
            "sockets": self.sockets,
            "fragment_bytes": FRAGMENT,
            "upgrades": self.upgrades.json(),
            "ends": self.ends.json(),
            "bytes_before_close": self.bytes_before_close,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Message;

    /// Takes `cap` bytes, then fails as a closed socket does.
    struct Capped {
        bytes: Vec<u8>,
        cap: usize,
    }

    impl AsyncWrite for Capped {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let room = self.cap - self.bytes.len();
            if room == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
            }
            let taken = buf.len().min(room);
            self.bytes.extend_from_slice(&buf[..taken]);
            std::task::Poll::Ready(Ok(taken))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// A WebSocket server as the hub's is configured: messages up to 64 KiB, and a close
    /// 1009 for a larger one.
    async fn strict_server(listener: tokio::net::TcpListener) {
        use futures::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
        let (tcp, _) = listener.accept().await.unwrap();
        let config = WebSocketConfig::default().max_message_size(Some(64 * 1024));
        let mut ws = tokio_tungstenite::accept_async_with_config(tcp, Some(config))
            .await
            .unwrap();
        while let Some(message) = ws.next().await {
            if message.is_err() {
                let close = CloseFrame {
                    code: 1009.into(),
                    reason: "message too big".into(),
                };
                let _ = ws.send(Message::Close(Some(close))).await;
                return;
            }
        }
    }

    #[tokio::test]
    async fn a_strict_server_closes_the_flood_with_1009_after_two_fragments() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(strict_server(listener));
        let (reader, mut writer) = tokio::net::TcpStream::connect(address)
            .await
            .unwrap()
            .into_split();
        let mut reader = BufReader::new(reader);
        let status = upgrade(&mut reader, &mut writer, &upgrade_request("token"))
            .await
            .unwrap();
        assert_eq!(status, 101);
        let deadline = Instant::now() + Duration::from_secs(10);
        let (end, sent) = flood(&mut reader, &mut writer, deadline).await;
        assert_eq!(end, "close 1009");
        assert!(sent >= 2 * FRAGMENT as u64, "{sent} bytes sent");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn the_fragments_are_a_binary_then_continuations_none_final() {
        // 2 header bytes, a 16-bit length, the mask.
        let frame = FRAGMENT + 8;
        let mut socket = Capped {
            bytes: vec![],
            cap: 3 * frame,
        };
        let sent = AtomicU64::new(0);
        let err = fragments(&mut socket, &sent).await;
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
        assert_eq!(sent.load(Ordering::Relaxed), 3 * frame as u64);
        let firsts = [
            socket.bytes[0],
            socket.bytes[frame],
            socket.bytes[2 * frame],
        ];
        assert_eq!(
            firsts,
            [0x02, 0x00, 0x00],
            "binary, then continuations, FIN clear"
        );
    }
}
