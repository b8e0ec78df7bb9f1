//! The node-to-node channel (contract §8): a request for a booking another node acts for is
//! handed to that node, and its answer relayed, so that clients need no sticky routing.
//!
//! - The client side is a layer on the public API ([`forward`]): it keeps the request's body,
//!   and when the hub's answer names the node that acts for the booking ([`ForwardTo`]), it
//!   sends the same request to that node's cluster address and answers with its answer.
//! - The other side is the API again, served on `BOOTHHUB_CLUSTER_LISTEN` behind
//!   [`authenticate`]: only requests signed with the cluster's shared secret get in, and a
//!   forwarded request is never forwarded again (a node that no longer acts for the booking
//!   answers 503, which the client retries).
//!
//! Both directions are signed with HMAC-SHA256 under `BOOTHHUB_CLUSTER_SECRET`: the request
//! over a timestamp, a nonce (remembered for the timestamp's window, so a request cannot be
//! replayed), its method, path, body and credentials; the answer over the nonce, its status
//! and body. That is what authenticates peers, so a node's TLS certificate (self-signed by
//! default, one per node) is not checked: TLS keeps the traffic private. Why a small RPC over
//! HTTPS and not ractor's cluster layer is in `docs/CLUSTER.md`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use boothhub_actors::domain::ids::NodeId;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::conn::BODY_LIMIT;
use crate::error::{ApiError, ErrorCode, ForwardTo};
use crate::metrics::CLUSTER_FORWARDED;

type HmacSha256 = Hmac<Sha256>;

/// The node that sent a forwarded request.
const NODE: HeaderName = HeaderName::from_static("x-boothhub-node");
/// `timestamp.nonce.mac` on a request; the answer's mac on an answer.
const AUTH: HeaderName = HeaderName::from_static("x-boothhub-peer-auth");
/// How far a request's timestamp may be from the receiver's clock.
const WINDOW_SECS: i64 = 30;
/// How long a forwarded request may take, all told: the owner's own ask timeout (5 s) and a
/// store write, with room.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(8);
/// The largest answer relayed (a booking's events are the longest).
const ANSWER_LIMIT: usize = 4 * 1024 * 1024;
/// How long connecting to a peer may take: a dead peer is given up on quickly (503).
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Headers a hop does not pass on.
const HOP: [HeaderName; 9] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    header::EXPECT,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
];
/// The request headers the signature covers: the caller's credentials.
const SIGNED: [HeaderName; 4] = [
    header::AUTHORIZATION,
    header::COOKIE,
    HeaderName::from_static("x-signature"),
    HeaderName::from_static("x-csrf-token"),
];

/// Marks a request that came from a peer: it is not forwarded again.
#[derive(Clone, Copy, Debug)]
pub struct FromPeer;

/// Why a peer's request or answer was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("no or malformed peer signature")]
    Unsigned,
    #[error("the peer signature's timestamp is outside the window")]
    Stale,
    #[error("a peer request was replayed")]
    Replayed,
    #[error("the peer signature does not match")]
    BadSignature,
    #[error("the peer could not be reached: {0}")]
    Unreachable(String),
}

/// This node's end of the channel: the shared secret, and a client for the others.
pub struct PeerLink {
    node: NodeId,
    /// The cluster address this node advertises: a request is signed for the node it is
    /// sent to, so that it cannot be replayed to another.
    address: String,
    secret: Vec<u8>,
    client: reqwest::Client,
    /// Nonces seen within the window, with their timestamps.
    nonces: DashMap<String, i64>,
    /// Nonces remembered since the last sweep of the stale ones.
    since_sweep: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("node", &self.node)
            .finish()
    }
}

/// What a signature covers, in order, each part hashed so that no part can run into the next.
fn sign(secret: &[u8], parts: &[&[u8]]) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
        return String::new(); // HMAC takes keys of any length
    };
    for part in parts {
        mac.update(&Sha256::digest(part));
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Compares two hex signatures in constant time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The values of the signed headers, one part each (all of a header's values, in order;
/// empty when absent).
fn credentials(headers: &HeaderMap) -> Vec<Vec<u8>> {
    SIGNED
        .iter()
        .map(|name| {
            let mut joined = vec![];
            for value in headers.get_all(name) {
                joined.extend_from_slice(value.as_bytes());
                joined.push(b'\n');
            }
            joined
        })
        .collect()
}

impl PeerLink {
    /// This node's end: `address` is the cluster address it advertises.
    pub fn new(node: NodeId, address: &str, secret: &str) -> Result<PeerLink, reqwest::Error> {
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            // Peers are authenticated by the signatures, not by their certificates.
            .danger_accept_invalid_certs(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(FORWARD_TIMEOUT)
            .build()?;
        Ok(PeerLink {
            node,
            address: address.to_owned(),
            secret: secret.as_bytes().to_vec(),
            client,
            nonces: DashMap::new(),
            since_sweep: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "each is a part the signature covers"
    )]
    fn request_signature(
        &self,
        to: &str,
        timestamp: i64,
        nonce: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
    ) -> String {
        let timestamp = timestamp.to_string();
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let credentials = credentials(headers);
        let mut parts: Vec<&[u8]> = vec![
            to.as_bytes(),
            timestamp.as_bytes(),
            nonce.as_bytes(),
            method.as_str().as_bytes(),
            path.as_bytes(),
            body,
        ];
        parts.extend(credentials.iter().map(Vec::as_slice));
        sign(&self.secret, &parts)
    }

    fn answer_signature(&self, nonce: &str, status: StatusCode, body: &[u8]) -> String {
        let status = status.as_u16().to_string();
        sign(&self.secret, &[nonce.as_bytes(), status.as_bytes(), body])
    }

    /// Checks a peer's request at `now` (unix seconds); answers its nonce.
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<String, PeerError> {
        let auth = headers
            .get(AUTH)
            .and_then(|v| v.to_str().ok())
            .ok_or(PeerError::Unsigned)?;
        let mut parts = auth.splitn(3, '.');
        let (Some(timestamp), Some(nonce), Some(mac)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(PeerError::Unsigned);
        };
        let timestamp: i64 = timestamp.parse().map_err(|_| PeerError::Unsigned)?;
        if nonce.is_empty() || nonce.len() > 64 {
            return Err(PeerError::Unsigned);
        }
        if (now - timestamp).abs() > WINDOW_SECS {
            return Err(PeerError::Stale);
        }
        let want =
            self.request_signature(&self.address, timestamp, nonce, method, uri, headers, body);
        if !same(&want, mac) {
            return Err(PeerError::BadSignature);
        }
        if self.nonces.insert(nonce.to_owned(), timestamp).is_some() {
            return Err(PeerError::Replayed);
        }
        // Stale nonces go in sweeps, one per thousand remembered.
        let since = self
            .since_sweep
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if since >= 1000 {
            self.since_sweep
                .store(0, std::sync::atomic::Ordering::Relaxed);
            self.nonces
                .retain(|_, seen| (now - *seen).abs() <= WINDOW_SECS);
        }
        Ok(nonce.to_owned())
    }

    /// Sends a request to the node at `address` and answers with its answer, checked.
    pub async fn send(
        &self,
        address: &str,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
        now: i64,
    ) -> Result<Response, PeerError> {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let mac = self.request_signature(address, now, &nonce, &method, uri, headers, &body);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .client
            .request(method, format!("https://{address}{path}"))
            .body(body);
        for (name, value) in headers {
            if !HOP.contains(name) && name != NODE && name != AUTH {
                request = request.header(name, value);
            }
        }
        let answer = request
            .header(NODE, self.node.to_string())
            .header(AUTH, format!("{now}.{nonce}.{mac}"))
            .send()
            .await
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let status = answer.status();
        let answer_headers = answer.headers().clone();
        if answer
            .content_length()
            .is_some_and(|length| length > ANSWER_LIMIT as u64)
        {
            return Err(PeerError::Unreachable("the answer is too large".into()));
        }
        let body = answer
            .bytes()
            .await
            .map_err(|e| PeerError::Unreachable(e.to_string()))?;
        let signed = answer_headers
            .get(AUTH)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same(&self.answer_signature(&nonce, status, &body), signed) {
            return Err(PeerError::BadSignature);
        }
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = status;
        for (name, value) in &answer_headers {
            if !HOP.contains(name) && name != AUTH {
                response.headers_mut().append(name, value.clone());
            }
        }
        Ok(response)
    }
}

fn unix_now() -> i64 {
    #[expect(
        clippy::disallowed_methods,
        reason = "peer signatures are stamped with the wall clock"
    )]
    let now = chrono::Utc::now();
    now.timestamp()
}

/// The public side: hands a request to the node that acts for its booking when the hub says
/// another one does.
pub async fn forward(State(link): State<Arc<PeerLink>>, req: Request, next: Next) -> Response {
    if req.extensions().get::<FromPeer>().is_some() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {BODY_LIMIT} bytes"),
        )
        .into_response();
    };
    let (method, uri, headers) = (
        parts.method.clone(),
        parts.uri.clone(),
        parts.headers.clone(),
    );
    let response = next
        .run(Request::from_parts(parts, Body::from(body.clone())))
        .await;
    let Some(ForwardTo(address)) = response.extensions().get::<ForwardTo>().cloned() else {
        return response;
    };
    match link
        .send(&address, method, &uri, &headers, body, unix_now())
        .await
    {
        Ok(answer) => {
            metrics::counter!(CLUSTER_FORWARDED, "result" => "answered").increment(1);
            answer
        }
        Err(err) => {
            metrics::counter!(CLUSTER_FORWARDED, "result" => "failed").increment(1);
            warn!(peer = %address, error = %err, "a request could not be handed to the node that acts for its booking");
            response
        }
    }
}

/// The node-to-node side: lets in only requests signed by a peer, and signs the answers.
pub async fn authenticate(State(link): State<Arc<PeerLink>>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let nonce = match link.verify(&parts.method, &parts.uri, &parts.headers, &body, unix_now()) {
        Ok(nonce) => nonce,
        Err(err) => {
            warn!(error = %err, "a node-to-node request was refused");
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthenticated,
                "node-to-node traffic needs the cluster's signature",
            )
            .into_response();
        }
    };
    parts.extensions.insert(FromPeer);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let (mut parts, body) = response.into_parts();
    let Ok(body) = to_bytes(body, ANSWER_LIMIT).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mac = link.answer_signature(&nonce, parts.status, &body);
    if let Ok(value) = HeaderValue::from_str(&mac) {
        parts.headers.insert(AUTH, value);
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "10.0.0.2:7443";

    fn link(secret: &str) -> PeerLink {
        let _ = rustls::crypto::ring::default_provider().install_default();
        PeerLink::new(NodeId::new(), TO, secret).unwrap()
    }

    fn signed(link: &PeerLink, now: i64, nonce: &str, body: &[u8]) -> HeaderMap {
        signed_for(link, TO, now, nonce, body)
    }

    fn signed_for(link: &PeerLink, to: &str, now: i64, nonce: &str, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer a"));
        let uri: Uri = "/bookings/1/session".parse().unwrap();
        let mac = link.request_signature(to, now, nonce, &Method::POST, &uri, &headers, body);
        headers.insert(AUTH, format!("{now}.{nonce}.{mac}").parse().unwrap());
        headers
    }

    #[test]
    fn a_request_signed_with_the_secret_gets_in_once() {
        let link = link("cluster-secret-0123");
        let uri: Uri = "/bookings/1/session".parse().unwrap();
        let headers = signed(&link, 1000, "n1", b"{}");
        assert_eq!(
            link.verify(&Method::POST, &uri, &headers, b"{}", 1010)
                .unwrap(),
            "n1"
        );
        assert!(matches!(
            link.verify(&Method::POST, &uri, &headers, b"{}", 1010),
            Err(PeerError::Replayed)
        ));
    }

    #[test]
    fn anything_changed_or_unsigned_or_late_is_refused() {
        let link = link("cluster-secret-0123");
        let other = self::link("another-secret-4567");
        let uri: Uri = "/bookings/1/session".parse().unwrap();
        let good = |nonce| signed(&link, 1000, nonce, b"{}");
        let mut swapped_credentials = good("a");
        swapped_credentials.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        let mut added_credentials = good("g");
        added_credentials.append(header::AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        let elsewhere = signed_for(&link, "10.0.0.3:7443", 1000, "h", b"{}");
        let cases: Vec<(&str, HeaderMap, &[u8], Method, i64)> = vec![
            ("another body", good("b"), b"{ }", Method::POST, 1000),
            ("another method", good("c"), b"{}", Method::PUT, 1000),
            (
                "other credentials",
                swapped_credentials,
                b"{}",
                Method::POST,
                1000,
            ),
            (
                "more credentials",
                added_credentials,
                b"{}",
                Method::POST,
                1000,
            ),
            (
                "meant for another node",
                elsewhere,
                b"{}",
                Method::POST,
                1000,
            ),
            (
                "another secret",
                signed(&other, 1000, "d", b"{}"),
                b"{}",
                Method::POST,
                1000,
            ),
            ("unsigned", HeaderMap::new(), b"{}", Method::POST, 1000),
            (
                "too late",
                good("e"),
                b"{}",
                Method::POST,
                1000 + WINDOW_SECS + 1,
            ),
            (
                "too early",
                good("f"),
                b"{}",
                Method::POST,
                1000 - WINDOW_SECS - 1,
            ),
        ];
        for (case, headers, body, method, now) in cases {
            assert!(
                link.verify(&method, &uri, &headers, body, now).is_err(),
                "{case}"
            );
        }
    }

    #[test]
    fn an_answer_is_bound_to_its_request_status_and_body() {
        let link = link("cluster-secret-0123");
        let mac = link.answer_signature("n1", StatusCode::OK, b"{}");
        assert!(same(
            &mac,
            &link.answer_signature("n1", StatusCode::OK, b"{}")
        ));
        assert!(!same(
            &mac,
            &link.answer_signature("n2", StatusCode::OK, b"{}")
        ));
        assert!(!same(
            &mac,
            &link.answer_signature("n1", StatusCode::CONFLICT, b"{}")
        ));
        assert!(!same(
            &mac,
            &link.answer_signature("n1", StatusCode::OK, b"{ }")
        ));
    }
}
