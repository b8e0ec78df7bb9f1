//! Hostile clients (contract §2): slow heads, idle keep-alives, trickled bodies, connection
//! floods per address and in all, oversized and fragmented WebSocket messages, too many
//! streams or sockets, cross-site WebSocket upgrades, a flood of client messages; and what the
//! hub hands out: no-store and HSTS headers, private file modes, a checked start-up password,
//! an override that would double-book a slot.
//!
//! The connection tests speak raw HTTP/1.1 over TLS, so that they decide exactly when each
//! byte goes out and see exactly when the hub closes.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::SinkExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::harness::*;
use crate::ws_client::{Connect, Received, WsClient};

/// Where the harness's own client connects from.
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// Where the hostile connections of the per-address tests come from: an address the harness
/// client (whose pooled login connection is anonymous) never uses, so the count is exact.
const HOSTILE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

async fn tcp_from(hub: &TestHub, local: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local.into(), 0)).unwrap();
    socket.connect(hub.addr).await.unwrap()
}

async fn tls_from(hub: &TestHub, local: Ipv4Addr) -> io::Result<TlsStream<TcpStream>> {
    let tcp = tcp_from(hub, local).await;
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    hub.tls().connect(name, tcp).await
}

/// A connection the hub admitted: its TLS handshake completed.
async fn admitted(hub: &TestHub, local: Ipv4Addr) -> TlsStream<TcpStream> {
    match tokio::time::timeout(Duration::from_secs(5), tls_from(hub, local)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(err)) => panic!("a connection from {local} was refused: {err}"),
        Err(_) => panic!("no TLS handshake from {local} within 5 s"),
    }
}

/// Whether a new connection from `local` is closed at once, before any TLS handshake.
async fn refused(hub: &TestHub, local: Ipv4Addr) -> bool {
    match tokio::time::timeout(Duration::from_secs(2), tls_from(hub, local)).await {
        Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => panic!("a connection from {local} was neither served nor closed within 2 s"),
    }
}

/// A connection from `local` admitted within `within` (places are given back when the hub
/// notices a close, which takes a moment).
async fn admitted_within(hub: &TestHub, local: Ipv4Addr, within: Duration) -> TlsStream<TcpStream> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Ok(tls)) =
            tokio::time::timeout(Duration::from_secs(2), tls_from(hub, local)).await
        {
            return tls;
        }
        assert!(
            Instant::now() < deadline,
            "no connection from {local} admitted within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An HTTP/1.1 answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

/// Reads one answer, its body by `Content-Length`.
async fn read_answer<R: AsyncRead + Unpin>(read: &mut R) -> Answer {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = read.read(&mut buf).await.expect("read the answer");
        assert!(
            n > 0,
            "the connection closed before an answer: {:?}",
            String::from_utf8_lossy(&data)
        );
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(key, _)| key == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or_else(|| panic!("no Content-Length: {head}"));
    while data.len() < head_end + length {
        let n = read.read(&mut buf).await.expect("read the body");
        assert!(n > 0, "the connection closed in the body: {head}");
        data.extend_from_slice(&buf[..n]);
    }
    let body = &data[head_end..head_end + length];
    let body = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    Answer { status, body }
}

/// Sends a request and reads its answer, on a keep-alive connection.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, request: &str) -> Answer {
    stream.write_all(request.as_bytes()).await.expect("send");
    stream.flush().await.expect("flush");
    read_answer(stream).await
}

/// `GET path` over HTTP/1.1 (keep-alive by default).
fn get(path: &str, token: Option<&str>) -> String {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}\r\n")
}

/// Reads until the hub closes (EOF or an error) and returns what came before; `None` if the
/// connection is still open after `within`.
async fn closed_within<R: AsyncRead + Unpin>(read: &mut R, within: Duration) -> Option<Vec<u8>> {
    let deadline = Instant::now() + within;
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, read.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(got),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn seconds(range: std::ops::RangeInclusive<f64>, took: Duration) -> bool {
    range.contains(&took.as_secs_f64())
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_head_is_closed_at_the_head_timeout() {
    let hub = TestHub::start_with(&[("BOOTHHUB_HTTP_HEADER_TIMEOUT_SECONDS", "2")]);

    // Over TLS, a head that grows by one header line every 500 ms: bytes keep coming, but
    // the head never ends, so they do not push the deadline back.
    let trickled = async {
        let started = Instant::now();
        let tls = tls_from(&hub, LOOPBACK).await.unwrap();
        let (mut read, mut write) = tokio::io::split(tls);
        write
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
            .await
            .unwrap();
        write.flush().await.unwrap();
        let every = Duration::from_millis(500);
        let mut tick = tokio::time::interval_at(Instant::now() + every, every);
        let mut lines = 0;
        let mut got = vec![];
        let mut buf = [0u8; 1024];
        let deadline = started + Duration::from_secs(8);
        loop {
            tokio::select! {
                read = read.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                },
                _ = tick.tick() => {
                    let line = format!("X-Slow-{lines}: y\r\n");
                    let _ = write.write_all(line.as_bytes()).await;
                    let _ = write.flush().await;
                    lines += 1;
                }
                () = tokio::time::sleep_until(deadline) => panic!("still open after 8 s"),
            }
        }
        (started.elapsed(), lines, got)
    };
    // Over plain TCP, not even a TLS handshake.
    let silent = async {
        let started = Instant::now();
        let mut tcp = tcp_from(&hub, LOOPBACK).await;
        let got = closed_within(&mut tcp, Duration::from_secs(8)).await;
        (started.elapsed(), got)
    };
    let ((took, lines, got), (silent_took, silent_got)) = tokio::join!(trickled, silent);

    assert!(
        seconds(1.9..=4.0, took),
        "closed after {took:?}, the head timeout is 2 s"
    );
    assert!(
        lines >= 3,
        "only {lines} header lines went out before the close"
    );
    assert!(
        got.is_empty(),
        "the hub answered a head that never ended: {:?}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(
        silent_got,
        Some(vec![]),
        "a silent TCP connection is closed without a word"
    );
    assert!(
        seconds(1.9..=4.0, silent_took),
        "the silent connection closed after {silent_took:?}, the head timeout is 2 s"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout_not_the_head_timeout() {
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_HTTP_HEADER_TIMEOUT_SECONDS", "2"),
        ("BOOTHHUB_HTTP_IDLE_TIMEOUT_SECONDS", "5"),
    ]);
    let mut conn = tls_from(&hub, LOOPBACK).await.unwrap();
    let first = exchange(&mut conn, &get("/healthz", None)).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.body["status"], "ok");

    // Idle for longer than the head timeout: still open, and still usable.
    assert_eq!(
        closed_within(&mut conn, Duration::from_secs(3)).await,
        None,
        "an idle connection was closed before its idle timeout"
    );
    let second = exchange(&mut conn, &get("/healthz", None)).await;
    assert_eq!(second.status, 200, "{second:?}");

    let idle_from = Instant::now();
    let got = closed_within(&mut conn, Duration::from_secs(9))
        .await
        .expect("an idle connection still open after 9 s; the idle timeout is 5 s");
    let idle = idle_from.elapsed();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(
        seconds(4.5..=7.0, idle),
        "closed after {idle:?} idle, the idle timeout is 5 s"
    );
}

/// Sends the head of a `POST /booking` promising 200 bytes, then 10 of them, then one byte
/// every `trickle` (or nothing); returns the answer and when it came.
async fn post_a_body_that_never_ends(
    hub: &TestHub,
    trickle: Option<Duration>,
) -> (Answer, Duration, u32) {
    let tls = tls_from(hub, LOOPBACK).await.unwrap();
    let (mut read, mut write) = tokio::io::split(tls);
    let head = "POST /booking HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Length: 200\r\n\r\n{\"user\":{";
    let started = Instant::now();
    write.write_all(head.as_bytes()).await.unwrap();
    write.flush().await.unwrap();
    let every = trickle.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    let answer = read_answer(&mut read);
    tokio::pin!(answer);
    let mut trickled = 0;
    let deadline = started + Duration::from_secs(8);
    loop {
        tokio::select! {
            answer = &mut answer => return (answer, started.elapsed(), trickled),
            _ = tick.tick() => {
                let _ = write.write_all(b" ").await;
                let _ = write.flush().await;
                trickled += 1;
            }
            () = tokio::time::sleep_until(deadline) => panic!("no answer within 8 s"),
        }
    }
}

#[tokio::test]
async fn a_body_not_received_in_time_is_answered_408_even_if_it_trickles() {
    let hub = TestHub::start_with(&[("BOOTHHUB_HTTP_BODY_TIMEOUT_SECONDS", "2")]);
    let ((stalled, stalled_took, _), (trickled, trickled_took, bytes)) = tokio::join!(
        post_a_body_that_never_ends(&hub, None),
        post_a_body_that_never_ends(&hub, Some(Duration::from_millis(500))),
    );
    for (name, answer, took) in [
        ("stalled", &stalled, stalled_took),
        ("trickled", &trickled, trickled_took),
    ] {
        assert_eq!(answer.status, 408, "{name}: {answer:?}");
        assert_eq!(
            answer.body["error"]["code"], "REQUEST_TIMEOUT",
            "{name}: {answer:?}"
        );
        assert!(
            seconds(1.9..=4.0, took),
            "{name}: answered after {took:?}, the body timeout is 2 s"
        );
    }
    assert!(
        bytes >= 3,
        "only {bytes} bytes trickled: the deadline must cover the whole body"
    );
}

#[tokio::test]
async fn anonymous_connections_are_capped_per_address_but_not_authenticated_ones_or_other_addresses()
 {
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_HTTP_MAX_CONNECTIONS_PER_IP", "5"),
        // The held connections send no head; it must not end them during the test.
        ("BOOTHHUB_HTTP_HEADER_TIMEOUT_SECONDS", "60"),
    ]);
    let root = hub.root().await;
    let mut held = vec![];
    for _ in 0..5 {
        held.push(admitted(&hub, HOSTILE).await);
    }
    assert!(
        refused(&hub, HOSTILE).await,
        "a 6th anonymous connection from one address is closed at once"
    );

    // Honest clients elsewhere are served meanwhile: a fresh connection and the harness's.
    let mut honest = admitted(&hub, LOOPBACK).await;
    let answer = exchange(&mut honest, &get("/healthz", None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let (status, body) = hub.get("/outlets", Some(&root)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // One of the five authenticates: it no longer counts, so one more anonymous one fits.
    let answer = exchange(&mut held[4], &get("/outlets", Some(&root))).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    held.push(admitted(&hub, HOSTILE).await);
    assert!(
        refused(&hub, HOSTILE).await,
        "four anonymous, one authenticated and one more anonymous: the address is at its cap"
    );
    let answer = exchange(&mut held[4], &get("/outlets", Some(&root))).await;
    assert_eq!(
        answer.status, 200,
        "the authenticated connection is still served: {answer:?}"
    );

    // Closing one gives its place back.
    drop(held.remove(0));
    held.push(admitted_within(&hub, HOSTILE, Duration::from_secs(5)).await);
    assert!(
        refused(&hub, HOSTILE).await,
        "and the address is full again"
    );
}

#[tokio::test]
async fn connections_over_the_global_cap_are_refused_until_one_closes() {
    // Nothing but these connections reaches this hub: the harness client is never used.
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_HTTP_MAX_CONNECTIONS", "16"),
        ("BOOTHHUB_HTTP_MAX_CONNECTIONS_PER_IP", "1000"),
        ("BOOTHHUB_HTTP_HEADER_TIMEOUT_SECONDS", "60"),
    ]);
    let sources: Vec<Ipv4Addr> = (10..14).map(|n| Ipv4Addr::new(127, 0, 0, n)).collect();
    let fresh = Ipv4Addr::new(127, 0, 0, 14);
    let mut held = vec![];
    for n in 0..16 {
        held.push(admitted(&hub, sources[n % sources.len()]).await);
    }
    assert!(
        refused(&hub, sources[0]).await,
        "the 17th connection is refused"
    );
    assert!(
        refused(&hub, fresh).await,
        "the global cap holds for an address with no connection yet"
    );

    drop(held.pop());
    held.push(admitted_within(&hub, fresh, Duration::from_secs(5)).await);
    assert!(refused(&hub, fresh).await, "full again");
    // The admitted ones are served.
    let answer = exchange(held.last_mut().unwrap(), &get("/healthz", None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = exchange(&mut held[0], &get("/healthz", None)).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}

fn fragment(payload: &[u8], data: Data, fin: bool) -> Message {
    Message::Frame(Frame::message(payload.to_vec(), OpCode::Data(data), fin))
}

/// The next `subscribed` or `error` answer, skipping events.
async fn answer(client: &mut WsClient) -> Value {
    loop {
        let message = client.message().await;
        if message["type"] != "event" {
            return message;
        }
    }
}

#[tokio::test]
async fn a_websocket_message_over_64_kib_across_fragments_is_closed_with_1009() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Fragments").await;

    // 40 KiB and 40 KiB: each frame is small, the message is not.
    let mut big = hub.ws(&outlet.admin, None).await;
    let part = vec![0x90u8; 40 * 1024];
    big.send_raw(fragment(&part, Data::Binary, false)).await;
    big.send_raw(fragment(&part, Data::Continue, false)).await;
    assert_eq!(
        big.receive(Duration::from_secs(5)).await,
        Received::Closed(Some(1009))
    );

    // The hub keeps serving.
    let mut next = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    let outlet_stream = format!("outlet:{}", outlet.id);
    let subscribed = next.subscribe(&[&outlet_stream], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");

    // A message under the limit in three fragments is put back together.
    let booth_stream = format!("booth:{}", outlet.booth.id);
    let subscribe = json!({ "type": "subscribe", "streams": [booth_stream] }).to_string();
    let bytes = subscribe.as_bytes();
    let third = bytes.len() / 3;
    next.send_raw(fragment(&bytes[..third], Data::Text, false))
        .await;
    next.send_raw(fragment(&bytes[third..2 * third], Data::Continue, false))
        .await;
    next.send_raw(fragment(&bytes[2 * third..], Data::Continue, true))
        .await;
    let subscribed = answer(&mut next).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(
        subscribed["streams"][0]["stream"],
        booth_stream.as_str(),
        "{subscribed}"
    );
}

fn stream_names(subscribed: &Value) -> Vec<String> {
    let mut names: Vec<String> = subscribed["streams"]
        .as_array()
        .map(|streams| {
            streams
                .iter()
                .filter_map(|s| s["stream"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The `error` and the `subscribed` that a subscribe over the cap is answered with.
async fn error_and_subscribed(client: &mut WsClient) -> (Value, Value) {
    let (mut error, mut subscribed) = (None, None);
    while error.is_none() || subscribed.is_none() {
        let message = answer(client).await;
        match message["type"].as_str() {
            Some("error") if error.is_none() => error = Some(message),
            Some("subscribed") if subscribed.is_none() => subscribed = Some(message),
            _ => panic!("unexpected {message}"),
        }
    }
    (error.unwrap(), subscribed.unwrap())
}

fn random_outlet_stream() -> String {
    format!("outlet:{}", uuid::Uuid::new_v4())
}

#[tokio::test]
async fn a_connection_holds_at_most_100_streams() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let mut sup = hub.ws(&root, Some("boothhub.json")).await;
    let mut streams = vec!["all".to_owned()];
    streams.extend((0..100).map(|_| random_outlet_stream()));
    sup.send(json!({ "type": "subscribe", "streams": streams }))
        .await;
    let (error, subscribed) = error_and_subscribed(&mut sup).await;
    assert_eq!(error["code"], "TOO_MANY_STREAMS", "{error}");
    let mut first_100 = streams[..100].to_vec();
    first_100.sort();
    assert_eq!(stream_names(&subscribed), first_100);

    // Full: a new stream is refused, one already held is not.
    let refused = sup.subscribe(&[&random_outlet_stream()], None).await;
    assert_eq!(
        (refused["type"].as_str(), refused["code"].as_str()),
        (Some("error"), Some("TOO_MANY_STREAMS")),
        "{refused}"
    );
    let again = sup.subscribe(&["all"], None).await;
    assert_eq!(again["type"], "subscribed", "{again}");
}

#[tokio::test]
async fn unsubscribing_gives_a_place_back_under_the_configured_stream_cap() {
    let hub = TestHub::start_with(&[("BOOTHHUB_WS_MAX_STREAMS", "3")]);
    let root = hub.root().await;
    let mut sup = hub.ws(&root, Some("boothhub.json")).await;
    let [first, second, third] = [(); 3].map(|()| random_outlet_stream());
    let subscribed = sup.subscribe(&["all", &first], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");

    sup.send(json!({ "type": "subscribe", "streams": [second, third] }))
        .await;
    let (error, subscribed) = error_and_subscribed(&mut sup).await;
    assert_eq!(error["code"], "TOO_MANY_STREAMS", "{error}");
    assert_eq!(stream_names(&subscribed), vec![second.clone()]);

    sup.send(json!({ "type": "unsubscribe", "streams": [first] }))
        .await;
    let subscribed = sup.subscribe(&[&third], None).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(stream_names(&subscribed), vec![third]);
}

/// Whether the socket answers a subscribe to `stream`.
async fn answers_a_subscribe(client: &mut WsClient, stream: &str) -> bool {
    client.subscribe(&[stream], None).await["type"] == "subscribed"
}

#[tokio::test]
async fn one_socket_too_many_for_a_token_closes_its_oldest_with_4409() {
    let hub = TestHub::start_with(&[("BOOTHHUB_WS_MAX_CONNECTIONS_PER_TOKEN", "3")]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Sockets").await;
    let stream = format!("outlet:{}", outlet.id);
    let mut other_token = hub.ws(&root, Some("boothhub.json")).await;
    assert!(answers_a_subscribe(&mut other_token, "all").await);

    // Each socket answers before the next opens, so their order is known.
    let mut sockets = vec![];
    for _ in 0..3 {
        let mut socket = hub.ws(&outlet.admin, Some("boothhub.json")).await;
        assert!(answers_a_subscribe(&mut socket, &stream).await);
        sockets.push(socket);
    }
    let mut oldest = sockets.remove(0);
    let mut newest = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    let code = oldest.close_code_within(Duration::from_secs(2)).await;
    assert_eq!(code, Some(4409));

    assert!(answers_a_subscribe(&mut newest, &stream).await);
    for socket in &mut sockets {
        assert!(answers_a_subscribe(socket, &stream).await);
    }
    assert!(
        answers_a_subscribe(&mut other_token, "all").await,
        "another token is not touched"
    );
}

#[tokio::test]
async fn a_cookie_websocket_upgrade_must_come_from_an_allowed_origin() {
    let hub = TestHub::start_with(&[("BOOTHHUB_CORS_ORIGINS", "https://ui.example")]);
    let (set_cookie, _) = hub.login_with_cookie().await;
    let cookie = set_cookie.split(';').next().unwrap_or("").to_owned();
    assert!(!cookie.is_empty(), "no session cookie: {set_cookie}");
    let port = hub.addr.port();
    let same_origin = format!("https://localhost:{port}");
    let plain_http = format!("http://localhost:{port}");
    let cases = [
        (Some("https://evil.example"), Err(403)),
        (None, Err(403)),
        (Some(plain_http.as_str()), Err(403)),
        (Some("https://ui.example.evil.example"), Err(403)),
        (Some(same_origin.as_str()), Ok(())),
        (Some("https://ui.example"), Ok(())),
    ];
    for (origin, want) in cases {
        let connected = hub
            .ws_connect(Connect {
                cookie: Some(&cookie),
                origin,
                protocol: Some("boothhub.json"),
                ..Connect::default()
            })
            .await;
        match (connected, want) {
            (Ok(mut socket), Ok(())) => {
                assert!(answers_a_subscribe(&mut socket, "all").await, "{origin:?}");
            }
            (Err(status), want) => assert_eq!(Err(status), want, "{origin:?}"),
            (Ok(_), want) => panic!("{origin:?}: upgraded, expected {want:?}"),
        }
    }

    // A bearer token is not sent by browsers on their own: no Origin is needed.
    let root = hub.root().await;
    for origin in [None, Some("https://evil.example")] {
        let mut socket = hub
            .ws_connect(Connect {
                token: Some(&root),
                origin,
                protocol: Some("boothhub.json"),
                ..Connect::default()
            })
            .await
            .unwrap_or_else(|status| panic!("bearer with {origin:?}: {status}"));
        assert!(answers_a_subscribe(&mut socket, "all").await);
    }
}

fn hsts(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers
        .get("strict-transport-security")?
        .to_str()
        .ok()?
        .split(';')
        .find_map(|part| part.trim().strip_prefix("max-age="))?
        .parse()
        .ok()
}

fn cache_control(headers: &reqwest::header::HeaderMap) -> &str {
    headers
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn api_answers_are_never_cached_and_every_answer_carries_hsts() {
    let hub = TestHub::start();
    let login = json!({ "email": ROOT_EMAIL, "password": "not-the-password" });
    let api = [
        (hub.client.get(hub.url("/healthz")), 200),
        (hub.client.get(hub.url("/no/such/route")), 404),
        (hub.client.post(hub.url("/auth/login")).json(&login), 401),
    ];
    for (request, want) in api {
        let response = request.send().await.unwrap();
        let url = response.url().to_string();
        assert_eq!(response.status().as_u16(), want, "{url}");
        assert_eq!(cache_control(response.headers()), "no-store", "{url}");
        assert!(
            hsts(response.headers()).is_some_and(|age| age >= 86_400),
            "{url}: {:?}",
            response.headers().get("strict-transport-security")
        );
    }

    // The web UI: the shell is revalidated, its hashed assets are kept for long.
    let shell = hub.client.get(hub.url("/app/")).send().await.unwrap();
    assert_eq!(shell.status(), StatusCode::OK);
    assert_eq!(cache_control(shell.headers()), "no-cache");
    assert!(hsts(shell.headers()).is_some());
    let html = shell.text().await.unwrap();
    let script = html
        .split("src=\"/app/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the shell loads no asset: {html}"));
    let asset = hub
        .client
        .get(hub.url(&format!("/app/assets/{script}")))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), StatusCode::OK, "{script}");
    let caching = cache_control(asset.headers());
    assert!(
        caching.contains("max-age=31536000") && caching.contains("immutable"),
        "{script}: {caching}"
    );
    assert!(hsts(asset.headers()).is_some(), "{script}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Every directory under `dir` is 0700 and every file 0600 (but the harness's own config).
fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|name| name == "empty.toml") {
            continue;
        }
        if path.is_dir() {
            assert_private(&path);
        } else {
            assert_eq!(mode(&path), 0o600, "{:o}: {}", mode(&path), path.display());
        }
    }
}

#[tokio::test]
async fn the_data_dir_and_its_files_are_private_to_the_hub() {
    let mut hub = TestHub::start();
    let root = hub.root().await;
    hub.outlet(&root, "Mall Files").await;
    let data = hub.data.path().to_owned();
    let mut expected = vec![data.join("tls"), data.join("tls/cert.pem")];
    expected.push(data.join("tls/key.pem"));
    if std::env::var("BOOTHHUB_TEST_STORE").as_deref() != Ok("scylla") {
        expected.push(data.join("boothhub.sqlite3"));
    }
    for path in &expected {
        assert!(path.exists(), "{} was not created", path.display());
    }
    assert_private(&data);

    // A data dir made by hand with the usual umask is tightened at the next start.
    hub.kill();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    hub.restart();
    let (status, body) = hub.get("/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_private(&data);
}

#[tokio::test]
async fn an_override_back_into_a_slot_now_held_is_refused_with_slot_taken() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Override").await;
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let book = || async {
        let mut body = booking_at(&outlet.id, Some(&outlet.booth.id), at);
        body["paid"] = json!(true);
        let (status, booking) = hub.book(Some(&root), body).await;
        assert_eq!(status, StatusCode::CREATED, "{booking}");
        assert_eq!(booking["status"], "AWAITING_CUSTOMER", "{booking}");
        id(&booking)
    };
    let set = |booking: String, to: &'static str| {
        let hub = &hub;
        let root = &root;
        async move {
            let body = json!({ "status": to, "reason": "x" });
            hub.post(&format!("/session/{booking}/override"), Some(root), body)
                .await
        }
    };

    let first = book().await;
    let (status, body) = set(first.clone(), "OVERRIDDEN").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "OVERRIDDEN", "{body}");
    // The slot is free again, and taken by another booking.
    let second = book().await;

    let (status, body) = set(first.clone(), "AWAITING_CUSTOMER").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "SLOT_TAKEN", "{body}");
    let (status, unchanged) = hub
        .get(&format!("/session/{first}/status"), Some(&root))
        .await;
    assert_eq!(status, StatusCode::OK, "{unchanged}");
    assert_eq!(unchanged["status"], "OVERRIDDEN", "{unchanged}");

    // Once the other one is done, the slot is free for the first again.
    let (status, body) = set(second, "DONE").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = set(first, "AWAITING_CUSTOMER").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "AWAITING_CUSTOMER", "{body}");
}

#[tokio::test]
async fn a_flood_of_client_messages_neither_stalls_others_nor_kills_the_sender() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Flood").await;
    let outlet_stream = format!("outlet:{}", outlet.id);
    let mut dashboard = hub.ws(&outlet.admin, Some("boothhub.json")).await;
    assert!(answers_a_subscribe(&mut dashboard, &outlet_stream).await);

    // The booth writes 20,000 acks as fast as the socket takes them, reading nothing.
    let booth_stream = format!("booth:{}", outlet.booth.id);
    let mut booth = hub.ws(&outlet.booth.token, None).await;
    let ack = json!({ "type": "ack", "stream": booth_stream, "seq": 0 });
    let ack = rmp_serde::to_vec_named(&ack).unwrap();
    let flood = tokio::spawn(async move {
        for _ in 0..20_000 {
            booth.ws.feed(Message::binary(ack.clone())).await.unwrap();
        }
        booth.ws.flush().await.unwrap();
        booth
    });

    // Meanwhile a whole booking lifecycle reaches the dashboard in normal time.
    let started = Instant::now();
    let (status, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    assert_eq!(status, StatusCode::CREATED, "{booking}");
    hub.pay(&booking).await;
    let booking_id = id(&booking);
    let scan = json!({ "qr_token": booking["qr_token"] });
    let token = Some(outlet.booth.token.as_str());
    for (step, body) in [
        ("arrival", scan),
        ("start", json!({})),
        ("finish", json!({})),
    ] {
        let path = format!("/session/{booking_id}/{step}");
        let (status, body) = hub.post(&path, token, body).await;
        assert_eq!(status, StatusCode::OK, "{step}: {body}");
    }
    let mut kinds = vec![];
    while kinds.len() < 5 {
        let event = dashboard.event().await;
        if event["booking_id"] == booking_id.as_str() {
            kinds.push(event["event"].as_str().unwrap_or("").to_owned());
        }
    }
    assert_eq!(
        kinds,
        [
            "BOOKING_CREATED",
            "PAYMENT_CONFIRMED",
            "SESSION_APPROVED",
            "SESSION_STARTED",
            "SESSION_DONE"
        ]
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the lifecycle took {:?}",
        started.elapsed()
    );

    // The flood is taken in, bounded, and the booth is still served.
    let mut booth = tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .expect("the hub stopped reading the booth's acks")
        .unwrap();
    assert!(answers_a_subscribe(&mut booth, &booth_stream).await);
}

/// Runs `boothhub serve` with `env`; it must exit on its own within 30 s.
fn serve_exit(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let mut child = Command::new(binary())
        .arg("serve")
        .env_clear()
        .env("BOOTHHUB_CONFIG", &config)
        .env("BOOTHHUB_DATA_DIR", dir.path().join("data"))
        .env("BOOTHHUB_LISTEN", "127.0.0.1:0")
        .env("BOOTHHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read_all = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("boothhub serve with {env:?} was still running after 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = format!(
        "{}{}",
        stdout.join().unwrap_or_default(),
        stderr.join().unwrap_or_default()
    );
    (status.code().unwrap_or(-1), text)
}

#[test]
fn the_start_up_super_admin_password_is_held_to_the_password_rules() {
    let too_long = "p".repeat(201);
    for password in ["short-pw", too_long.as_str()] {
        let (code, text) = serve_exit(&[
            ("BOOTHHUB_SUPER_ADMIN_EMAIL", ROOT_EMAIL),
            ("BOOTHHUB_SUPER_ADMIN_PASSWORD", password),
        ]);
        let chars = password.len();
        assert_ne!(code, 0, "a {chars}-character password was accepted: {text}");
        assert!(
            text.contains("BOOTHHUB_SUPER_ADMIN_PASSWORD"),
            "{chars} characters: the message should name BOOTHHUB_SUPER_ADMIN_PASSWORD: {text}"
        );
        assert!(!text.contains("panicked"), "{text}");
        assert!(
            !text.contains(password),
            "the refused password is not echoed: {text}"
        );
    }
}

#[tokio::test]
async fn sigterm_closes_every_websocket_with_1001() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Shutdown").await;
    let mut sockets = vec![
        hub.ws(&root, Some("boothhub.json")).await,
        hub.ws(&outlet.admin, None).await,
    ];
    assert!(answers_a_subscribe(&mut sockets[0], "all").await);
    assert!(answers_a_subscribe(&mut sockets[1], &format!("outlet:{}", outlet.id)).await);
    hub.terminate();
    for socket in &mut sockets {
        let code = socket.close_code_within(Duration::from_secs(5)).await;
        assert_eq!(code, Some(1001), "going away: reconnect and resume");
    }
}
