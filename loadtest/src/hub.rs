//! A client of the hub's public API, and a local hub started on a temp data dir.
#![allow(
    clippy::disallowed_methods,
    reason = "a load tool reads the wall clock and its own environment"
)]

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::Context as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

fn client_builder(ca: Option<&Path>) -> anyhow::Result<reqwest::ClientBuilder> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
        builder = builder
            .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
            .tls_built_in_root_certs(false);
    }
    Ok(builder)
}

/// Now in Unix seconds, as the `t=` of a webhook signature.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// How long a 503 with `Retry-After` is retried (contract §8: a takeover answers 503 for at
/// most 15 s).
const RETRY_503_FOR: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Hub {
    pub ca: Option<PathBuf>,
    base: String,
    client: reqwest::Client,
    secret: String,
    token: Option<String>,
    /// The e-mail address and password of the last login, for more logins of the same admin.
    credentials: Option<(String, String)>,
}

impl Hub {
    pub fn new(url: &str, ca: Option<&Path>, secret: &str) -> anyhow::Result<Hub> {
        Ok(Hub {
            ca: ca.map(Path::to_path_buf),
            base: url.trim_end_matches('/').to_owned(),
            client: client_builder(ca)?.build()?,
            secret: secret.to_owned(),
            token: None,
            credentials: None,
        })
    }

    /// An HTTP client of this hub (same trust) that connects from `source`, a loopback
    /// address: the hub sees it as another client.
    pub fn client_from(&self, source: IpAddr) -> anyhow::Result<reqwest::Client> {
        Ok(client_builder(self.ca.as_deref())?
            .local_address(source)
            .build()?)
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.post_with(self.token.as_deref(), path, body).await
    }

    pub async fn login(&mut self, email: &str, password: &str) -> anyhow::Result<()> {
        self.credentials = Some((email.to_owned(), password.to_owned()));
        self.token = Some(self.another_login().await?);
        Ok(())
    }

    /// A new login token of the admin last logged in: one per browser, as each dashboard
    /// has (the hub caps the WebSockets one token may hold open).
    pub async fn another_login(&self) -> anyhow::Result<String> {
        let (email, password) = self
            .credentials
            .as_ref()
            .context("log in before asking for another login")?;
        let body = self
            .post(
                "/auth/login",
                &json!({ "email": email, "password": password }),
            )
            .await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .context("the login answer has no token")
    }

    pub async fn create_outlet(&self, name: &str) -> anyhow::Result<String> {
        let body = self
            .post("/outlets", &json!({ "name": name, "location": "loadtest" }))
            .await?;
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// A booth; returns its id and its token.
    pub async fn create_booth(&self, outlet: &str, name: &str) -> anyhow::Result<(String, String)> {
        let body = self
            .post("/booths", &json!({ "outlet_id": outlet, "name": name }))
            .await?;
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        Ok((id, body["token"].as_str().unwrap_or_default().to_owned()))
    }

    /// An admin of `outlet`; returns the user's id.
    pub async fn create_admin(
        &self,
        outlet: &str,
        email: &str,
        password: &str,
    ) -> anyhow::Result<String> {
        let body = json!({
            "name": "Loadtest Admin",
            "email": email,
            "role": "admin",
            "outlet_id": outlet,
            "password": password,
        });
        let user = self.post("/admin-users", &body).await?;
        Ok(user["id"].as_str().unwrap_or_default().to_owned())
    }

    /// A booking paid at the counter for `booth`, now; returns the booking.
    pub async fn create_paid_booking(&self, outlet: &str, booth: &str) -> anyhow::Result<Value> {
        let at = chrono::Utc::now();
        let body = json!({
            "user": { "name": "Load Test", "phone": "+62 800 0000", "email": "load@test.id" },
            "outlet_id": outlet,
            "booth_id": booth,
            "booking_time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "amount": 50_000,
            "paid": true,
        });
        self.post("/booking", &body).await
    }

    /// POSTs as `token` (a booth) and checks for success.
    pub async fn post_as(&self, token: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.post_with(Some(token), path, body).await
    }

    /// POSTs and checks for success. A 503 is retried after its `Retry-After`, for up to
    /// [`RETRY_503_FOR`], as a client should (the hub answers it while a node it depended
    /// on is being replaced).
    async fn post_with(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let started = std::time::Instant::now();
        loop {
            let mut request = self.client.post(format!("{}{path}", self.base)).json(body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await?;
            let status = response.status();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            if let (reqwest::StatusCode::SERVICE_UNAVAILABLE, Some(seconds)) = (status, retry_after)
                && started.elapsed() < RETRY_503_FOR
            {
                tokio::time::sleep(Duration::from_secs(seconds.clamp(1, 5))).await;
                continue;
            }
            anyhow::ensure!(
                status.is_success(),
                "POST {path} answered {status}: {answer}"
            );
            return Ok(answer);
        }
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// A pending booking `minutes` from now; returns its id and amount.
    pub async fn create_booking(
        &self,
        outlet: &str,
        booth: &str,
        minutes: i64,
    ) -> anyhow::Result<(String, i64)> {
        let at = chrono::Utc::now() + chrono::Duration::minutes(minutes);
        let body = json!({
            "user": { "name": "Load Test", "phone": "+62 800 0000", "email": "load@test.id" },
            "outlet_id": outlet,
            "booth_id": booth,
            "booking_time": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "amount": 50_000,
        });
        let booking = self.post("/booking", &body).await?;
        Ok((
            booking["id"].as_str().unwrap_or_default().to_owned(),
            booking["amount"].as_i64().unwrap_or_default(),
        ))
    }

    /// Sends a webhook signed now; returns the HTTP status.
    pub async fn send_webhook(&self, body: &Value) -> anyhow::Result<u16> {
        let raw = serde_json::to_vec(body)?;
        let at = unix_now();
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes())?;
        mac.update(format!("{at}.").as_bytes());
        mac.update(&raw);
        let signature = format!("t={at},v1={}", hex::encode(mac.finalize().into_bytes()));
        let response = self
            .client
            .post(format!("{}/payment/confirm", self.base))
            .header("content-type", "application/json")
            .header("x-signature", signature)
            .body(raw)
            .send()
            .await?;
        Ok(response.status().as_u16())
    }
}

/// A hub process on a temp data dir, stopped when dropped.
pub struct LocalHub {
    pub pid: u32,
    child: Child,
    pub url: String,
    pub cert: PathBuf,
    _data: tempfile::TempDir,
}

impl LocalHub {
    /// Starts `binary`; `env` is set last, over the tool's own settings.
    pub fn start(
        binary: &Path,
        email: &str,
        password: &str,
        secret: &str,
        scylla: Option<&str>,
        env: &[(&str, String)],
    ) -> anyhow::Result<LocalHub> {
        let data = tempfile::tempdir()?;
        let config = data.path().join("empty.toml");
        std::fs::write(&config, "")?;
        let mut command = Command::new(binary);
        if let Some(nodes) = scylla {
            let keyspace = format!("loadtest_{}", uuid::Uuid::new_v4().simple());
            command
                .env("BOOTHHUB_STORE", "scylla")
                .env("BOOTHHUB_SCYLLA_NODES", nodes)
                .env("BOOTHHUB_SCYLLA_KEYSPACE", keyspace);
        }
        let mut child = command
            .arg("serve")
            .env("BOOTHHUB_CONFIG", &config)
            .env("BOOTHHUB_LISTEN", "127.0.0.1:0")
            .env("BOOTHHUB_DATA_DIR", data.path())
            .env("BOOTHHUB_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn,boothhub::serve=info")
            .env("BOOTHHUB_WEBHOOK_SECRET", secret)
            .env("BOOTHHUB_SUPER_ADMIN_EMAIL", email)
            .env("BOOTHHUB_SUPER_ADMIN_PASSWORD", password)
            .env("BOOTHHUB_RATE_LOGIN_BURST", "1000")
            .envs(env.iter().map(|(key, value)| (*key, value)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let entry: Value = serde_json::from_str(&line).unwrap_or_default();
                if entry["message"] == "listening" {
                    let _ = tx.send(entry["addr"].as_str().unwrap_or_default().to_owned());
                }
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .context("the local hub did not start listening")?;
        let port = addr.rsplit(':').next().unwrap_or_default();
        let cert = data.path().join("tls/cert.pem");
        Ok(LocalHub {
            pid: child.id(),
            child,
            url: format!("https://localhost:{port}"),
            cert,
            _data: data,
        })
    }
}

impl Drop for LocalHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
