//! Rate limits (per IP for anonymous booking and login, per booth for scans), CORS, request ids.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn a_booth_scanning_forged_codes_in_a_loop_meets_429_early() {
    // The shipped limits: 30 scans a minute, 10 at once.
    let hub = TestHub::start_with(&[("BOOTHHUB_RATE_ARRIVAL_BURST", "10")]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Scanner").await;
    let (_, booking) = hub.book(None, booking_body(&outlet.id, None, 0)).await;
    let path = format!("/session/{}/arrival", id(&booking));
    let mut first_429 = None;
    for attempt in 0..300 {
        let qr = format!("{}.forged{attempt}", id(&booking));
        let response = hub
            .client
            .post(hub.url(&path))
            .bearer_auth(&outlet.booth.token)
            .json(&json!({ "qr_token": qr }))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            assert!(
                retry_after.is_some_and(|s| s >= 1),
                "429 carries Retry-After"
            );
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "RATE_LIMITED");
            first_429 = Some(attempt);
            break;
        }
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let first = first_429.expect("the booth was never throttled");
    assert!(first <= 20, "throttled only after {first} scans");
    // Another booth is not throttled by this one.
    let other = hub.booth(&root, &outlet.id, "Booth 2").await;
    let (status, _) = hub
        .post(&path, Some(&other.token), json!({ "qr_token": "x" }))
        .await;
    assert_ne!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn anonymous_booking_and_login_are_limited_per_ip_but_admins_are_not() {
    let hub = TestHub::start_with(&[
        ("BOOTHHUB_RATE_BOOKING_BURST", "3"),
        ("BOOTHHUB_RATE_LOGIN_BURST", "4"),
    ]);
    let root = hub.root().await;
    let outlet = hub.outlet(&root, "Mall Limits").await;
    for n in 2..=8 {
        hub.booth(&root, &outlet.id, &format!("Booth {n}")).await;
    }
    let mut statuses = vec![];
    for hour in 0..5 {
        statuses.push(
            hub.book(None, booking_body(&outlet.id, None, 60 * (hour + 1)))
                .await
                .0,
        );
    }
    assert_eq!(&statuses[..3], &[StatusCode::CREATED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    for hour in 0..5 {
        let (status, body) = hub
            .book(
                Some(&outlet.admin),
                booking_body(&outlet.id, None, 60 * (hour + 10)),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "admins are not throttled: {body}"
        );
    }
    let mut login = vec![];
    for _ in 0..6 {
        login.push(
            hub.post(
                "/auth/login",
                None,
                json!({ "email": "nobody@x.id", "password": "wrong-password" }),
            )
            .await
            .0,
        );
    }
    assert!(login.contains(&StatusCode::UNAUTHORIZED));
    assert_eq!(login.last(), Some(&StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn login_answers_the_same_for_unknown_email_and_wrong_password() {
    let hub = TestHub::start();
    let unknown = hub
        .post(
            "/auth/login",
            None,
            json!({ "email": "ghost@x.id", "password": "whatever-1" }),
        )
        .await;
    let wrong = hub
        .post(
            "/auth/login",
            None,
            json!({ "email": ROOT_EMAIL, "password": "whatever-1" }),
        )
        .await;
    assert_eq!(unknown.0, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown, wrong);
    assert_eq!(unknown.1["error"]["code"], "INVALID_CREDENTIALS");
    let (cookie, body) = hub.login_with_cookie().await;
    for part in ["boothhub_session=", "HttpOnly", "Secure", "SameSite=Strict"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(body["user"].get("password_hash").is_none() && body["user"].get("password").is_none());
    // The cookie works as a session on its own.
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = hub
        .client
        .get(hub.url("/outlets"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins_and_requests_carry_an_id() {
    let hub = TestHub::start_with(&[("BOOTHHUB_CORS_ORIGINS", "https://backoffice.example")]);
    let preflight = |origin: &'static str| {
        hub.client
            .request(reqwest::Method::OPTIONS, hub.url("/outlets"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://backoffice.example").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://backoffice.example")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = hub.client.get(hub.url("/healthz")).send().await.unwrap();
    assert!(response.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_for_changes_and_know_their_user() {
    let hub = TestHub::start();
    let body = json!({ "email": ROOT_EMAIL, "password": ROOT_PASSWORD });
    let login = hub
        .client
        .post(hub.url("/auth/login"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let set_cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let value_of = |name: &str| {
        set_cookies
            .iter()
            .find_map(|c| c.split(';').next()?.strip_prefix(&format!("{name}=")))
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let (session, csrf) = (value_of("boothhub_session"), value_of("boothhub_csrf"));
    assert!(!session.is_empty() && !csrf.is_empty(), "{set_cookies:?}");
    let csrf_cookie = set_cookies
        .iter()
        .find(|c| c.starts_with("boothhub_csrf="))
        .unwrap();
    assert!(!csrf_cookie.contains("HttpOnly") && csrf_cookie.contains("SameSite=Strict"));
    let cookie = format!("boothhub_session={session}; boothhub_csrf={csrf}");
    let outlet = |name: &str| json!({ "name": name, "location": "Bandung" });
    let post = |token: Option<&str>, name: &str| {
        let mut request = hub
            .client
            .post(hub.url("/outlets"))
            .header("cookie", cookie.clone())
            .json(&outlet(name));
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    // A forged cross-site POST carries the cookie but cannot know the token.
    for (token, status) in [
        (None, StatusCode::FORBIDDEN),
        (
            Some("0123456789abcdef0123456789abcdef"),
            StatusCode::FORBIDDEN,
        ),
        (Some(csrf.as_str()), StatusCode::CREATED),
    ] {
        let response = post(token, "Cookie Mall").await.unwrap();
        assert_eq!(response.status(), status, "token {token:?}");
        if status == StatusCode::FORBIDDEN {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "CSRF_TOKEN_INVALID");
        }
    }
    // Bearer callers (scripts, booths) send no cookie and need no token.
    let (status, _) = hub
        .post("/outlets", Some(&session), outlet("Bearer Mall"))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    // GET /auth/me names the session's user; a booth token is not a user.
    let me: Value = hub
        .client
        .get(hub.url("/auth/me"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], ROOT_EMAIL);
    assert_eq!(me["user"]["role"], "super_admin");
    let (status, _) = hub.get("/auth/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Logout (a change: it needs the token too) clears both cookies and ends the session.
    let refused = hub
        .client
        .post(hub.url("/auth/logout"))
        .header("cookie", cookie.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let logout = hub
        .client
        .post(hub.url("/auth/logout"))
        .header("cookie", cookie.clone())
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = logout
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let (status, _) = hub.get("/auth/me", Some(&session)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A device that comes back (a network blip, a reconnect storm) resumes its TLS session
/// with the hub's stateless session ticket instead of a full handshake, however many other
/// devices connected meanwhile (a server-side session cache would have forgotten it).
#[tokio::test]
async fn a_returning_client_resumes_its_tls_session() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::HandshakeKind;

    let hub = TestHub::start();
    let visit = |connector: tokio_rustls::TlsConnector| async move {
        let tcp = tokio::net::TcpStream::connect(hub.addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let kind = tls.get_ref().1.handshake_kind();
        // A request and its answer: the ticket arrives after the handshake.
        tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = vec![];
        let _ = tls.read_to_end(&mut answer).await;
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
        kind
    };
    let device = hub.tls();
    assert_eq!(visit(device.clone()).await, Some(HandshakeKind::Full));
    // More devices than rustls' default server-side cache (256 sessions) holds.
    for _ in 0..300 {
        assert_eq!(visit(hub.tls()).await, Some(HandshakeKind::Full));
    }
    assert_eq!(visit(device).await, Some(HandshakeKind::Resumed));
}
