//! One client's socket: the upgrade (auth, origin, subprotocol), a reader that puts frames
//! back into messages (bounded, see [`super::message`]) and hands them to the client's
//! connection actor no faster than it handles them, and a writer that drains the actor's
//! bounded queue, pings every `ping_interval` and closes when told. A client silent for
//! `idle_timeout` is closed.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use boothhub_actors::connection::{ClientRequest, ConnectionHandle, Turn};
use boothhub_actors::domain::access::{Action, Principal, permits};
use boothhub_actors::router::WireFormat;
use boothhub_actors::sequencer::Outbound;
use fastwebsockets::{Frame, OpCode, Payload, WebSocket, WebSocketError};
use hyper_util::rt::TokioIo;
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::{Instrument, debug, info_span, warn};

use super::message::{Assembler, Fragment, MAX_MESSAGE};
use super::protocol::{ClientMessage, Protocol, decode, encode};
use crate::auth;
use crate::error::{ApiError, ErrorCode};
use crate::http::extract::{Caller, LoginExpiry, presented_token};
use crate::metrics::{PUSH_LATENCY, WS_BAD_MESSAGES, WS_CONNECTIONS, WS_FOREIGN_ORIGIN};
use crate::state::{AppState, SocketSettings};
use crate::token_sockets::{CLOSE_REVOKED, Holder, TokenSockets};
use crate::wire::{ServerMessage, StreamSeq};

/// Frames a client may send wrong before it is closed with 1008.
const MALFORMED_LIMIT: u32 = 20;
/// Client messages handed to the connection actor and not yet handled: the reader waits
/// (and so stops reading the socket) while this many are in its mailbox.
const IN_FLIGHT: usize = 8;

type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// `GET /ws`: authenticates, negotiates the subprotocol and upgrades.
pub async fn upgrade(
    State(state): State<AppState>,
    Caller(caller): Caller,
    mut req: Request,
) -> Result<Response, ApiError> {
    let principal = caller.ok_or_else(ApiError::unauthenticated)?;
    permits(Some(&principal), Action::Subscribe)?;
    check_origin(req.headers(), &state.config.cors_origins)?;
    let token_hash = presented_token(req.headers())
        .map(|token| auth::token_hash(&token))
        .unwrap_or_default();
    let holder = Holder {
        principal,
        expires_at: req.extensions().get::<LoginExpiry>().map(|e| e.0),
    };
    let offered = req
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok());
    let negotiated = Protocol::negotiate(offered).map_err(|message| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UnsupportedSubprotocol,
            message,
        )
    })?;
    if !fastwebsockets::upgrade::is_upgrade_request(&req) {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            ErrorCode::UpgradeRequired,
            "GET /ws is a WebSocket endpoint",
        ));
    }
    let (response, upgrade) = fastwebsockets::upgrade::upgrade(&mut req).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UpgradeRequired,
            e.to_string(),
        )
    })?;
    if let Some(conn) = crate::conn::of(req.extensions()) {
        conn.upgraded();
    }
    let protocol = negotiated.unwrap_or(Protocol::MsgPack);
    let client = Client {
        hub: Arc::clone(&state.hub),
        principal,
        protocol,
        settings: state.sockets,
        tokens: Arc::clone(&state.token_sockets),
        token_hash,
        holder,
    };
    // The socket outlives its upgrade request: its span is its own, following from it.
    let span = info_span!(
        "socket",
        role = role(&principal),
        booth_id = principal.booth_id().map(tracing::field::display)
    );
    span.follows_from(tracing::Span::current());
    state.socket_tasks.spawn(
        async move {
            match upgrade.await {
                Ok(socket) => run(socket, client).await,
                Err(err) => debug!(error = %err, "websocket upgrade failed"),
            }
        }
        .instrument(span),
    );
    let (mut parts, _) = response.into_parts();
    if let Some(chosen) = negotiated {
        parts.headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(chosen.name()),
        );
    }
    Ok(Response::from_parts(parts, Body::empty()).into_response())
}

/// An upgrade authenticated by the session cookie must come from the hub's own origin or an
/// allowed one: a page of another site can make the browser send the cookie (cross-site
/// WebSocket hijacking), but not forge its `Origin`. Bearer tokens are not sent by browsers
/// on their own, so they need no check.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    if headers.contains_key(header::AUTHORIZATION) {
        return Ok(());
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let same_origin = match (origin, host) {
        (Some(origin), Some(host)) => origin.eq_ignore_ascii_case(&format!("https://{host}")),
        _ => false,
    };
    let listed = origin.is_some_and(|origin| allowed.iter().any(|a| a == origin));
    if same_origin || listed {
        return Ok(());
    }
    metrics::counter!(WS_FOREIGN_ORIGIN).increment(1);
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        "a WebSocket with the session cookie must come from the hub's own origin or an allowed one",
    ))
}

/// Who a socket serves, and with what.
struct Client {
    hub: Arc<boothhub_actors::hub::Hub>,
    principal: Principal,
    protocol: Protocol,
    settings: SocketSettings,
    tokens: Arc<TokenSockets>,
    token_hash: String,
    holder: Holder,
}

fn role(principal: &Principal) -> &'static str {
    match principal {
        Principal::SuperAdmin { .. } => "super_admin",
        Principal::Admin { .. } => "admin",
        Principal::Booth { .. } => "booth",
    }
}

/// A frame the reader must send (a pong, the echo of a close), owned for the writer.
struct Control {
    opcode: OpCode,
    payload: Vec<u8>,
}

async fn run(mut socket: WebSocket<Upgraded>, client: Client) {
    let Client {
        hub,
        principal,
        protocol,
        settings,
        tokens,
        token_hash,
        holder,
    } = client;
    socket.set_auto_close(true);
    socket.set_auto_pong(true);
    // Each frame is at most a whole message; `Assembler` bounds the message.
    socket.set_max_message_size(MAX_MESSAGE + 1);
    // Frames collect in a buffer and go out together at each flush (see `write_loop`).
    let (mut read, write) = socket.split(|stream| {
        let (read, write) = tokio::io::split(stream);
        (read, tokio::io::BufWriter::new(write))
    });
    let (outbound, queue) = mpsc::channel(settings.queue_capacity);
    let (close, closed) = watch::channel(None);
    let actor = match hub
        .connect(principal, outbound.clone(), close.clone())
        .await
    {
        Ok(actor) => actor,
        Err(err) => {
            warn!(error = %err, "no connection actor; closing the socket");
            return;
        }
    };
    let registration = tokens.add(&token_hash, holder, close.clone());
    // A revocation between the upgrade's check and this registration found no socket to
    // close: look at the token again now that the socket is where revocations find it.
    if !still_valid(&hub, &token_hash, &principal).await {
        let _ = close.send(Some((CLOSE_REVOKED, "the token stopped working".into())));
    }
    let role = role(&principal);
    metrics::gauge!(WS_CONNECTIONS, "role" => role).increment(1.0);
    let (control, controls) = mpsc::channel::<Control>(16);
    let (done, mut writer_done) = oneshot::channel();
    let writer = tokio::spawn(
        async move {
            write_loop(write, queue, controls, closed, protocol, settings).await;
            let _ = done.send(());
        }
        .in_current_span(),
    );

    let turns = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut assembler = Assembler::default();
    let mut malformed = 0;
    loop {
        let mut obligated = |frame: Frame<'_>| {
            let owned = Control {
                opcode: frame.opcode,
                payload: frame.payload.to_vec(),
            };
            let control = control.clone();
            async move {
                control
                    .send(owned)
                    .await
                    .map_err(|_| "the writer has stopped")
            }
        };
        let frame = tokio::select! {
            read = tokio::time::timeout(settings.idle_timeout, read.read_frame(&mut obligated)) => read,
            _ = &mut writer_done => break,
        };
        let frame = match frame {
            Err(_) => {
                let _ = close.send(Some((1000, "idle timeout".into())));
                break;
            }
            Ok(Err(err)) => {
                if let Some(code) = close_code(&err) {
                    let _ = close.send(Some((code, err.to_string())));
                }
                break;
            }
            Ok(Ok(frame)) => frame,
        };
        let kind = match frame.opcode {
            OpCode::Text => Fragment::Text,
            OpCode::Binary => Fragment::Binary,
            OpCode::Continuation => Fragment::Continuation,
            OpCode::Close => break,
            OpCode::Ping | OpCode::Pong => continue,
        };
        let message = match assembler.push(kind, frame.fin, &frame.payload) {
            Ok(Some(message)) => message,
            Ok(None) => continue,
            Err(err) => {
                metrics::counter!(WS_BAD_MESSAGES, "fault" => err.to_string()).increment(1);
                let _ = close.send(Some((err.close_code(), err.to_string())));
                break;
            }
        };
        let (text, payload) = message;
        match decode(&payload, text) {
            Ok(message) => {
                // Waits for a turn: a client that sends faster than its actor handles is
                // no longer read until the actor catches up.
                let turn = tokio::select! {
                    turn = Arc::clone(&turns).acquire_owned() => turn,
                    _ = &mut writer_done => break,
                };
                let Ok(turn) = turn else { break };
                forward(&actor, message, Turn::new(turn));
            }
            Err(err) => {
                malformed += 1;
                let error = Outbound::Error {
                    code: ErrorCode::MalformedMessage,
                    message: err.to_string(),
                };
                let _ = outbound.try_send(error);
                if malformed >= MALFORMED_LIMIT {
                    let _ = close.send(Some((1008, "too many malformed messages".into())));
                    break;
                }
            }
        }
    }
    tokens.remove(&registration);
    actor.closed();
    if close.borrow().is_none() {
        let _ = close.send(Some((1000, String::new())));
    }
    let _ = writer.await;
    metrics::gauge!(WS_CONNECTIONS, "role" => role).decrement(1.0);
}

/// Whether the socket's token still works (it is looked up again, as a request would).
async fn still_valid(
    hub: &boothhub_actors::hub::Hub,
    token_hash: &str,
    principal: &Principal,
) -> bool {
    let directory = hub.directory();
    let found = match principal {
        Principal::Booth { .. } => directory.principal_for_booth(token_hash).await,
        _ => directory
            .principal_for_login(token_hash)
            .await
            .map(|login| login.map(|(principal, _)| principal)),
    };
    // A store that cannot answer is not a revocation: the socket stays.
    found.map_or(true, |found| found.as_ref() == Some(principal))
}

/// The close code for a read error that the client caused, if the socket can still carry it.
fn close_code(err: &WebSocketError) -> Option<u16> {
    match err {
        WebSocketError::InvalidUTF8 => Some(1007),
        WebSocketError::FrameTooLarge => Some(1009),
        WebSocketError::ConnectionClosed
        | WebSocketError::UnexpectedEOF
        | WebSocketError::IoError(_) => None,
        _ => Some(1002),
    }
}

fn forward(actor: &ConnectionHandle, message: ClientMessage, turn: Turn) {
    let request = match message {
        ClientMessage::Subscribe { streams, resume } => {
            ClientRequest::Subscribe { streams, resume }
        }
        ClientMessage::Unsubscribe { streams } => ClientRequest::Unsubscribe { streams },
        ClientMessage::Ack { stream, seq } => ClientRequest::Ack { stream, seq },
    };
    actor.request(request, turn);
}

fn server_message(item: &Outbound) -> ServerMessage {
    match item {
        Outbound::Subscribed(streams) => ServerMessage::Subscribed {
            streams: streams
                .iter()
                .map(|(stream, seq)| StreamSeq {
                    stream: *stream,
                    seq: *seq,
                })
                .collect(),
        },
        Outbound::Event { event, .. } => ServerMessage::event(&event.event),
        Outbound::Error { code, message } => ServerMessage::Error {
            code: code.as_str().to_owned(),
            message: message.clone(),
        },
    }
}

/// What the socket's writer sends next.
enum Next {
    Item(Outbound),
    Ping,
}

/// The most frames one write gathers before it flushes and looks at the close signal again.
const BATCH: usize = 256;

async fn write_loop(
    mut write: Writer,
    mut queue: mpsc::Receiver<Outbound>,
    mut controls: mpsc::Receiver<Control>,
    mut closed: watch::Receiver<Option<(u16, String)>>,
    protocol: Protocol,
    settings: SocketSettings,
) {
    let first_ping = tokio::time::Instant::now() + settings.ping_interval;
    let mut ping = tokio::time::interval_at(first_ping, settings.ping_interval);
    // A write that cannot finish within the idle timeout means the client is gone.
    let deadline = settings.idle_timeout;
    let latency = metrics::histogram!(PUSH_LATENCY);
    let mut published = Vec::with_capacity(BATCH);
    loop {
        let next = tokio::select! {
            biased;
            _ = closed.changed() => {
                let reason = closed.borrow().clone();
                if let Some((code, reason)) = reason {
                    debug!(code, reason = %reason, "closing websocket");
                    let close = Frame::close(code, reason.as_bytes());
                    let _ = tokio::time::timeout(deadline, async {
                        write.write_frame(close).await?;
                        write.flush().await
                    })
                    .await;
                }
                return;
            }
            control = controls.recv() => match control {
                Some(Control { opcode, payload }) => {
                    let is_close = opcode == OpCode::Close;
                    let frame = Frame::new(true, opcode, None, Payload::Owned(payload));
                    let _ = tokio::time::timeout(deadline, async {
                        write.write_frame(frame).await?;
                        write.flush().await
                    })
                    .await;
                    if is_close {
                        return;
                    }
                    continue;
                }
                None => return,
            },
            item = queue.recv() => match item {
                Some(item) => Next::Item(item),
                None => return,
            },
            _ = ping.tick() => Next::Ping,
        };
        // Frames queued together go out in one flush (few TLS records), and nothing waits
        // in a buffer: the batch ends when the queue is empty, after one yield that lets
        // events published in the same instant join it.
        let written = tokio::time::timeout(deadline, async {
            let mut next = Some(next);
            while let Some(item) = next.take() {
                if let Some(at) = write_item(&mut write, protocol, item).await? {
                    published.push(at);
                }
                if published.len() >= BATCH {
                    break;
                }
                next = match queue.try_recv() {
                    Ok(item) => Some(Next::Item(item)),
                    Err(_) => {
                        tokio::task::yield_now().await;
                        queue.try_recv().ok().map(Next::Item)
                    }
                };
            }
            write.flush().await?;
            Ok::<(), WebSocketError>(())
        });
        match written.await {
            Ok(Ok(())) => {
                for at in published.drain(..) {
                    latency.record(at.elapsed().as_secs_f64());
                }
            }
            _ => return,
        }
    }
}

type Writer = fastwebsockets::WebSocketWrite<tokio::io::BufWriter<tokio::io::WriteHalf<Upgraded>>>;

/// Writes one frame (not flushed); returns when the event in it was published.
async fn write_item(
    write: &mut Writer,
    protocol: Protocol,
    item: Next,
) -> Result<Option<std::time::Instant>, WebSocketError> {
    let text = protocol == Protocol::Json;
    let data = |payload| {
        if text {
            Frame::text(payload)
        } else {
            Frame::binary(payload)
        }
    };
    match &item {
        Next::Ping => {
            let ping = Frame::new(true, OpCode::Ping, None, Payload::Owned(Vec::new()));
            write.write_frame(ping).await?;
            Ok(None)
        }
        // Encoded once per event and format, shared (not copied) by every subscriber.
        Next::Item(Outbound::Event { event, .. }) => {
            let format = if text {
                WireFormat::Json
            } else {
                WireFormat::MessagePack
            };
            let bytes = event.encoded(format, |stored| {
                encode(protocol, &ServerMessage::event(stored)).0
            });
            write.write_frame(data(Payload::Borrowed(bytes))).await?;
            let pushed = &event.event;
            debug!(stream = %pushed.stream, seq = pushed.seq, booking_id = pushed.event.booking_id.map(tracing::field::display), "pushed");
            Ok(Some(event.at))
        }
        Next::Item(other) => {
            let bytes = encode(protocol, &server_message(other)).0;
            write.write_frame(data(Payload::Owned(bytes))).await?;
            Ok(None)
        }
    }
}
