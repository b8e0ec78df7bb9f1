//! Login is limited per account (contract §2): 10 failed logins for one e-mail address within
//! 15 minutes → 429 for that address, even with the right password. The harness sets the
//! per-IP login burst high, so only the per-account limit answers here.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// Logs in once; the status, the `Retry-After` seconds if any, and the body.
async fn login(hub: &TestHub, email: &str, password: &str) -> (StatusCode, Option<u64>, Value) {
    let response = hub
        .client
        .post(hub.url("/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (
        status,
        retry_after,
        response.json().await.unwrap_or_default(),
    )
}

async fn fail_times(hub: &TestHub, email: &str, times: usize) {
    for n in 1..=times {
        let (status, _, body) = login(hub, email, "wrong-password-1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "failure {n}: {body}");
        assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");
    }
}

fn assert_rate_limited(answer: &(StatusCode, Option<u64>, Value)) {
    let (status, retry_after, body) = answer;
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert!(
        retry_after.is_some_and(|s| (1..=15 * 60).contains(&s)),
        "Retry-After within the window: {retry_after:?}"
    );
}

#[tokio::test]
async fn ten_failed_logins_lock_the_email_even_with_the_right_password() {
    let hub = TestHub::start();
    let root = hub.root().await;
    let other = "other-admin@boothhub.test";
    let (status, body) = hub
        .post(
            "/admin-users",
            Some(&root),
            json!({ "name": "Other", "email": other, "password": "other-password-1", "role": "super_admin" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    fail_times(&hub, ROOT_EMAIL, 10).await;
    assert_rate_limited(&login(&hub, ROOT_EMAIL, ROOT_PASSWORD).await);
    // The same address however it is typed.
    let shouted = format!("  {}  ", ROOT_EMAIL.to_uppercase());
    assert_rate_limited(&login(&hub, &shouted, ROOT_PASSWORD).await);
    // Other addresses are not affected, and a token from before still works.
    let (status, _, body) = login(&hub, other, "other-password-1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = hub.get("/outlets", Some(&root)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn nine_failures_still_let_the_right_password_in() {
    let hub = TestHub::start();
    fail_times(&hub, ROOT_EMAIL, 9).await;
    let (status, _, body) = login(&hub, ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], ROOT_EMAIL);
}

#[tokio::test]
async fn a_successful_login_clears_the_failures_of_its_email() {
    let hub = TestHub::start();
    fail_times(&hub, ROOT_EMAIL, 9).await;
    hub.root().await;
    // Nine more: had the first nine still counted, the tenth of these would be refused.
    fail_times(&hub, ROOT_EMAIL, 9).await;
    let (status, _, body) = login(&hub, ROOT_EMAIL, ROOT_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn an_unknown_email_is_locked_like_a_known_one() {
    let hub = TestHub::start();
    fail_times(&hub, "ghost@boothhub.test", 10).await;
    let answer = login(&hub, "ghost@boothhub.test", "wrong-password-1").await;
    assert_rate_limited(&answer);
    let (status, _, _) = login(&hub, "Ghost@BoothHub.test", "x").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // So the answer tells nothing about whether the address has an account.
    fail_times(&hub, ROOT_EMAIL, 10).await;
    let known = login(&hub, ROOT_EMAIL, "wrong-password-1").await;
    assert_eq!((known.0, &known.2), (answer.0, &answer.2));
}

#[tokio::test]
async fn parallel_guesses_get_no_more_than_ten_password_checks() {
    let hub = TestHub::start();
    let guesses = (0..30).map(|_| login(&hub, ROOT_EMAIL, "wrong-password-1"));
    let answers = futures::future::join_all(guesses).await;
    let refused = answers
        .iter()
        .filter(|(status, ..)| *status == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|(status, ..)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let statuses: Vec<u16> = answers.iter().map(|(s, ..)| s.as_u16()).collect();
    assert_eq!((refused, limited), (10, 20), "{statuses:?}");
    assert_rate_limited(&login(&hub, ROOT_EMAIL, ROOT_PASSWORD).await);
}

#[tokio::test]
async fn the_failure_limit_follows_its_config_key() {
    let hub = TestHub::start_with(&[("BOOTHHUB_RATE_LOGIN_FAILURES_PER_ACCOUNT", "3")]);
    fail_times(&hub, ROOT_EMAIL, 3).await;
    assert_rate_limited(&login(&hub, ROOT_EMAIL, ROOT_PASSWORD).await);
}
