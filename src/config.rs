//! `config/boothhub.toml` + `BOOTHHUB_*` → a validated [`Config`]. The only module that reads
//! the environment; every key and its variable are declared once, in [`KEYS`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where configuration comes from when no `--config` is given.
pub const DEFAULT_FILE: &str = "config/boothhub.toml";

/// Every setting: its key in the file (`section.name`) and its environment variable.
pub const KEYS: &[(&str, &str)] = &[
    ("listen", "BOOTHHUB_LISTEN"),
    ("data_dir", "BOOTHHUB_DATA_DIR"),
    ("store", "BOOTHHUB_STORE"),
    ("log_format", "BOOTHHUB_LOG_FORMAT"),
    ("cors_origins", "BOOTHHUB_CORS_ORIGINS"),
    ("login_token_ttl_hours", "BOOTHHUB_LOGIN_TOKEN_TTL_HOURS"),
    ("metrics_public", "BOOTHHUB_METRICS_PUBLIC"),
    ("scylla.nodes", "BOOTHHUB_SCYLLA_NODES"),
    ("scylla.keyspace", "BOOTHHUB_SCYLLA_KEYSPACE"),
    ("scylla.replication", "BOOTHHUB_SCYLLA_REPLICATION"),
    ("tls.cert", "BOOTHHUB_TLS_CERT"),
    ("tls.key", "BOOTHHUB_TLS_KEY"),
    ("webhook.secret", "BOOTHHUB_WEBHOOK_SECRET"),
    ("super_admin.email", "BOOTHHUB_SUPER_ADMIN_EMAIL"),
    ("super_admin.password", "BOOTHHUB_SUPER_ADMIN_PASSWORD"),
    (
        "rate_limits.booking_per_minute",
        "BOOTHHUB_RATE_BOOKING_PER_MINUTE",
    ),
    ("rate_limits.booking_burst", "BOOTHHUB_RATE_BOOKING_BURST"),
    (
        "rate_limits.login_per_minute",
        "BOOTHHUB_RATE_LOGIN_PER_MINUTE",
    ),
    ("rate_limits.login_burst", "BOOTHHUB_RATE_LOGIN_BURST"),
    (
        "rate_limits.arrival_per_minute",
        "BOOTHHUB_RATE_ARRIVAL_PER_MINUTE",
    ),
    ("rate_limits.arrival_burst", "BOOTHHUB_RATE_ARRIVAL_BURST"),
    (
        "socket_send_buffer_bytes",
        "BOOTHHUB_SOCKET_SEND_BUFFER_BYTES",
    ),
    (
        "ws.ping_interval_seconds",
        "BOOTHHUB_WS_PING_INTERVAL_SECONDS",
    ),
    (
        "ws.idle_timeout_seconds",
        "BOOTHHUB_WS_IDLE_TIMEOUT_SECONDS",
    ),
    ("ws.queue_capacity", "BOOTHHUB_WS_QUEUE_CAPACITY"),
    ("ws.retry_base_ms", "BOOTHHUB_WS_RETRY_BASE_MS"),
    ("ws.max_streams", "BOOTHHUB_WS_MAX_STREAMS"),
    (
        "ws.max_connections_per_token",
        "BOOTHHUB_WS_MAX_CONNECTIONS_PER_TOKEN",
    ),
    ("ws.max_unacked", "BOOTHHUB_WS_MAX_UNACKED"),
    (
        "http.header_timeout_seconds",
        "BOOTHHUB_HTTP_HEADER_TIMEOUT_SECONDS",
    ),
    (
        "http.idle_timeout_seconds",
        "BOOTHHUB_HTTP_IDLE_TIMEOUT_SECONDS",
    ),
    (
        "http.body_timeout_seconds",
        "BOOTHHUB_HTTP_BODY_TIMEOUT_SECONDS",
    ),
    ("http.max_connections", "BOOTHHUB_HTTP_MAX_CONNECTIONS"),
    (
        "http.max_connections_per_ip",
        "BOOTHHUB_HTTP_MAX_CONNECTIONS_PER_IP",
    ),
    (
        "rate_limits.login_failures_per_account",
        "BOOTHHUB_RATE_LOGIN_FAILURES_PER_ACCOUNT",
    ),
    (
        "rate_limits.login_failure_window_minutes",
        "BOOTHHUB_RATE_LOGIN_FAILURE_WINDOW_MINUTES",
    ),
];

/// The variable that names another config file.
pub const CONFIG_FILE_VAR: &str = "BOOTHHUB_CONFIG";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the config file {path} is not valid TOML: {reason}")]
    Parse { path: String, reason: String },
    #[error("unknown key `{key}` in {path} (known keys: {known})")]
    UnknownKey {
        path: String,
        key: String,
        known: String,
    },
    #[error("invalid {key} ({var}) = {value:?}: {expected}")]
    Invalid {
        key: &'static str,
        var: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("{var} is required by `boothhub serve` ({why})")]
    Missing {
        var: &'static str,
        why: &'static str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Embedded,
    Scylla,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub booking: Limit,
    pub login: Limit,
    pub arrival: Limit,
    /// Failed logins for one e-mail address within the window before it answers 429.
    pub login_failures_per_account: u32,
    pub login_failure_window_minutes: u32,
}

/// What one client connection may hold of the hub's time and file descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpLimits {
    /// A request head must arrive whole within this long.
    pub header_timeout_seconds: u64,
    /// A keep-alive connection with no request in flight closes after this long.
    pub idle_timeout_seconds: u64,
    /// A request body must arrive whole within this long (else 408).
    pub body_timeout_seconds: u64,
    /// Open client connections in all.
    pub max_connections: usize,
    /// Open connections per client IP that have not authenticated.
    pub max_connections_per_ip: usize,
}

/// The WebSocket hub's timings and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WsSettings {
    pub ping_interval_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub queue_capacity: usize,
    /// The first wait before an unacked booth event is sent again (then 2×, 4×, 8×…).
    pub retry_base_ms: u64,
    /// Streams one connection may hold subscribed.
    pub max_streams: usize,
    /// WebSocket connections one token may hold open (the oldest is closed with 4409).
    pub max_connections_per_token: usize,
    /// Unacked events a booth actor keeps for its booth; beyond, the oldest is dead-lettered.
    pub max_unacked: usize,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub store: StoreKind,
    pub log_format: LogFormat,
    pub cors_origins: Vec<String>,
    pub login_token_ttl_hours: i64,
    pub metrics_public: bool,
    pub scylla_nodes: Vec<String>,
    pub scylla_keyspace: String,
    /// The keyspace's replication map, used when the hub creates the keyspace.
    pub scylla_replication: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub webhook_secret: Option<String>,
    pub super_admin_email: Option<String>,
    pub super_admin_password: Option<String>,
    pub rate_limits: RateLimits,
    pub ws: WsSettings,
    pub http: HttpLimits,
    /// SO_SNDBUF of accepted sockets; 0 leaves the OS's autotuning.
    pub socket_send_buffer_bytes: u32,
    /// Where the settings came from, for the start-up log.
    pub source: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<set>");
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("store", &self.store)
            .field("log_format", &self.log_format)
            .field("cors_origins", &self.cors_origins)
            .field("login_token_ttl_hours", &self.login_token_ttl_hours)
            .field("metrics_public", &self.metrics_public)
            .field("scylla_nodes", &self.scylla_nodes)
            .field("scylla_keyspace", &self.scylla_keyspace)
            .field("scylla_replication", &self.scylla_replication)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("webhook_secret", &secret(&self.webhook_secret))
            .field("super_admin_email", &self.super_admin_email)
            .field("super_admin_password", &secret(&self.super_admin_password))
            .field("rate_limits", &self.rate_limits)
            .field("ws", &self.ws)
            .field("http", &self.http)
            .field("socket_send_buffer_bytes", &self.socket_send_buffer_bytes)
            .field("source", &self.source)
            .finish()
    }
}

/// Raw settings: file values overridden by the environment, still as text.
struct Raw {
    values: BTreeMap<&'static str, String>,
}

impl Raw {
    fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    fn parse<T>(
        &self,
        key: &'static str,
        default: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let value = self.get(key).unwrap_or(default);
        parse(value.trim()).ok_or_else(|| ConfigError::Invalid {
            key,
            var: var_of(key),
            value: value.to_owned(),
            expected,
        })
    }

    fn optional(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| v.trim().to_owned())
    }
}

fn var_of(key: &str) -> &'static str {
    KEYS.iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, var)| var)
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Flattens a TOML table into `section.key` → text (arrays joined with commas).
fn flatten(
    path: &str,
    table: &toml::Table,
    prefix: &str,
    out: &mut BTreeMap<&'static str, String>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(path, inner, &key, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Array(items) => items
                .iter()
                .map(|item| match item {
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        let Some((known, _)) = KEYS.iter().find(|(k, _)| *k == key) else {
            let known = KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ");
            return Err(ConfigError::UnknownKey {
                path: path.to_owned(),
                key,
                known,
            });
        };
        out.insert(known, text);
    }
    Ok(())
}

impl Config {
    /// Reads the process's configuration: `file` (or `BOOTHHUB_CONFIG`, or the default file
    /// when present) overridden by `BOOTHHUB_*`.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        #[allow(
            clippy::disallowed_methods,
            reason = "config.rs is the one reader of the environment"
        )]
        let env = |name: &str| std::env::var(name).ok();
        Config::from_sources(file, &env)
    }

    /// The same, with the environment given (for tests).
    pub fn from_sources(
        file: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_FILE_VAR).map(PathBuf::from));
        let path = match named {
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_FILE)).filter(|p| p.exists()),
        };
        let mut values = BTreeMap::new();
        let source = match &path {
            Some(path) => {
                let shown = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
                let table: toml::Table =
                    text.parse()
                        .map_err(|e: toml::de::Error| ConfigError::Parse {
                            path: shown.clone(),
                            reason: e.message().to_owned(),
                        })?;
                flatten(&shown, &table, "", &mut values)?;
                shown
            }
            None => "built-in defaults".to_owned(),
        };
        for (key, var) in KEYS {
            if let Some(value) = env(var) {
                values.insert(*key, value);
            }
        }
        Config::from_raw(&Raw { values }, source)
    }

    fn from_raw(raw: &Raw, source: String) -> Result<Config, ConfigError> {
        let count = |key, default| {
            raw.parse(key, default, "a whole number from 1 to 100000", |v| {
                v.parse::<u32>().ok().filter(|n| (1..=100_000).contains(n))
            })
        };
        let limit =
            |per_minute, burst, default_rate, default_burst| -> Result<Limit, ConfigError> {
                Ok(Limit {
                    per_minute: count(per_minute, default_rate)?,
                    burst: count(burst, default_burst)?,
                })
            };
        let cert = raw.optional("tls.cert").map(PathBuf::from);
        let key = raw.optional("tls.key").map(PathBuf::from);
        if cert.is_some() != key.is_some() {
            let (key, value) = if cert.is_some() {
                ("tls.key", "")
            } else {
                ("tls.cert", "")
            };
            return Err(ConfigError::Invalid {
                key,
                var: var_of(key),
                value: value.to_owned(),
                expected: "BOOTHHUB_TLS_CERT and BOOTHHUB_TLS_KEY are set together",
            });
        }
        let email = raw.optional("super_admin.email");
        let password = raw.optional("super_admin.password");
        let valid_password =
            |p: &String| boothhub_actors::domain::records::User::is_valid_password(p);
        if email.is_some() && !password.as_ref().is_some_and(valid_password) {
            return Err(ConfigError::Invalid {
                key: "super_admin.password",
                var: var_of("super_admin.password"),
                value: if password.is_some() {
                    "<hidden>".into()
                } else {
                    String::new()
                },
                expected: "a password of 10 to 200 characters, as for any user, when BOOTHHUB_SUPER_ADMIN_EMAIL is set",
            });
        }
        if let Some(address) = email
            .as_ref()
            .filter(|a| !boothhub_actors::domain::validate::is_email(a))
        {
            return Err(ConfigError::Invalid {
                key: "super_admin.email",
                var: var_of("super_admin.email"),
                value: address.clone(),
                expected: "an e-mail address",
            });
        }
        Ok(Config {
            listen: raw.parse(
                "listen",
                "127.0.0.1:8443",
                "an address:port such as 127.0.0.1:8443",
                |v| v.parse().ok(),
            )?,
            data_dir: raw.parse("data_dir", "./data", "a directory path", |v| {
                Some(PathBuf::from(v))
            })?,
            store: raw.parse("store", "embedded", "embedded or scylla", |v| match v {
                "embedded" => Some(StoreKind::Embedded),
                "scylla" => Some(StoreKind::Scylla),
                _ => None,
            })?,
            log_format: raw.parse("log_format", "text", "text or json", |v| match v {
                "text" => Some(LogFormat::Text),
                "json" => Some(LogFormat::Json),
                _ => None,
            })?,
            cors_origins: raw.parse(
                "cors_origins",
                "",
                "comma-separated https:// or http:// origins",
                |v| {
                    let origins = list(v);
                    origins
                        .iter()
                        .all(|o| {
                            (o.starts_with("https://") || o.starts_with("http://"))
                                && !o.ends_with('/')
                                && axum::http::HeaderValue::from_str(o).is_ok()
                        })
                        .then_some(origins)
                },
            )?,
            login_token_ttl_hours: raw.parse(
                "login_token_ttl_hours",
                "12",
                "hours from 1 to 8760",
                |v| v.parse::<i64>().ok().filter(|h| (1..=8760).contains(h)),
            )?,
            metrics_public: raw.parse("metrics_public", "true", "true or false", |v| {
                v.parse().ok()
            })?,
            scylla_nodes: raw.parse(
                "scylla.nodes",
                "127.0.0.1:9042",
                "comma-separated host:port",
                |v| {
                    let nodes = list(v);
                    let valid = !nodes.is_empty()
                        && nodes.iter().all(|n| {
                            n.rsplit_once(':').is_some_and(|(host, port)| {
                                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                            })
                        });
                    valid.then_some(nodes)
                },
            )?,
            scylla_keyspace: raw.parse(
                "scylla.keyspace",
                "boothhub",
                "a CQL identifier (letters, digits, _)",
                |v| {
                    let valid = !v.is_empty()
                        && v.len() <= 48
                        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                        && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
                    valid.then(|| v.to_owned())
                },
            )?,
            scylla_replication: raw.parse(
                "scylla.replication",
                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
                "a CQL replication map such as {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
                |v| {
                    let valid = v.starts_with('{')
                        && v.ends_with('}')
                        && v.contains("'class'")
                        && !v.contains(';');
                    valid.then(|| v.to_owned())
                },
            )?,
            tls_cert: cert,
            tls_key: key,
            webhook_secret: raw.optional("webhook.secret"),
            super_admin_email: email,
            super_admin_password: password,
            rate_limits: RateLimits {
                booking: limit(
                    "rate_limits.booking_per_minute",
                    "rate_limits.booking_burst",
                    "30",
                    "10",
                )?,
                login: limit(
                    "rate_limits.login_per_minute",
                    "rate_limits.login_burst",
                    "10",
                    "5",
                )?,
                arrival: limit(
                    "rate_limits.arrival_per_minute",
                    "rate_limits.arrival_burst",
                    "30",
                    "10",
                )?,
                login_failures_per_account: count("rate_limits.login_failures_per_account", "10")?,
                login_failure_window_minutes: raw.parse(
                    "rate_limits.login_failure_window_minutes",
                    "15",
                    "minutes from 1 to 1440",
                    |v| v.parse().ok().filter(|m| (1..=1440).contains(m)),
                )?,
            },
            socket_send_buffer_bytes: raw.parse(
                "socket_send_buffer_bytes",
                "0",
                "0 (the OS decides) or bytes from 4096 to 67108864",
                |v| {
                    v.parse()
                        .ok()
                        .filter(|b| *b == 0 || (4096..=67_108_864).contains(b))
                },
            )?,
            ws: WsSettings {
                ping_interval_seconds: raw.parse(
                    "ws.ping_interval_seconds",
                    "15",
                    "seconds from 1 to 3600",
                    |v| v.parse().ok().filter(|s| (1..=3600).contains(s)),
                )?,
                idle_timeout_seconds: raw.parse(
                    "ws.idle_timeout_seconds",
                    "45",
                    "seconds from 2 to 7200",
                    |v| v.parse().ok().filter(|s| (2..=7200).contains(s)),
                )?,
                queue_capacity: raw.parse(
                    "ws.queue_capacity",
                    "8192",
                    "a queue length from 8 to 1000000",
                    |v| v.parse().ok().filter(|n| (8..=1_000_000).contains(n)),
                )?,
                retry_base_ms: raw.parse(
                    "ws.retry_base_ms",
                    "1000",
                    "milliseconds from 10 to 600000",
                    |v| v.parse().ok().filter(|ms| (10..=600_000).contains(ms)),
                )?,
                max_streams: raw.parse(
                    "ws.max_streams",
                    "100",
                    "a number of streams from 1 to 10000",
                    |v| v.parse().ok().filter(|n| (1..=10_000).contains(n)),
                )?,
                max_connections_per_token: raw.parse(
                    "ws.max_connections_per_token",
                    "20",
                    "a number of connections from 1 to 10000",
                    |v| v.parse().ok().filter(|n| (1..=10_000).contains(n)),
                )?,
                max_unacked: raw.parse(
                    "ws.max_unacked",
                    "1024",
                    "a number of events from 16 to 1000000",
                    |v| v.parse().ok().filter(|n| (16..=1_000_000).contains(n)),
                )?,
            },
            http: HttpLimits {
                header_timeout_seconds: raw.parse(
                    "http.header_timeout_seconds",
                    "10",
                    "seconds from 1 to 3600",
                    |v| v.parse().ok().filter(|s| (1..=3600).contains(s)),
                )?,
                idle_timeout_seconds: raw.parse(
                    "http.idle_timeout_seconds",
                    "60",
                    "seconds from 1 to 86400",
                    |v| v.parse().ok().filter(|s| (1..=86_400).contains(s)),
                )?,
                body_timeout_seconds: raw.parse(
                    "http.body_timeout_seconds",
                    "30",
                    "seconds from 1 to 3600",
                    |v| v.parse().ok().filter(|s| (1..=3600).contains(s)),
                )?,
                max_connections: raw.parse(
                    "http.max_connections",
                    "25000",
                    "a number of connections from 16 to 1000000",
                    |v| v.parse().ok().filter(|n| (16..=1_000_000).contains(n)),
                )?,
                max_connections_per_ip: raw.parse(
                    "http.max_connections_per_ip",
                    "256",
                    "a number of connections from 1 to 1000000",
                    |v| v.parse().ok().filter(|n| (1..=1_000_000).contains(n)),
                )?,
            },
            source,
        })
    }

    /// What `serve` needs beyond a valid config.
    pub fn check_serve(&self) -> Result<(), ConfigError> {
        match &self.webhook_secret {
            Some(secret) if secret.len() >= 16 => Ok(()),
            Some(_) => Err(ConfigError::Invalid {
                key: "webhook.secret",
                var: "BOOTHHUB_WEBHOOK_SECRET",
                value: "<too short>".into(),
                expected: "a shared secret of at least 16 characters",
            }),
            None => Err(ConfigError::Missing {
                var: "BOOTHHUB_WEBHOOK_SECRET",
                why: "payment webhooks are verified with it",
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(file: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().map_err(|e| ConfigError::Read {
            path: String::new(),
            reason: e.to_string(),
        })?;
        let path = dir.path().join("boothhub.toml");
        std::fs::write(&path, file).map_err(|e| ConfigError::Read {
            path: String::new(),
            reason: e.to_string(),
        })?;
        let env: BTreeMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_sources(Some(&path), &|name| env.get(name).cloned())
    }

    #[test]
    fn the_shipped_file_holds_the_built_in_defaults() {
        let shipped = include_str!("../config/boothhub.toml");
        let from_file = load(shipped, &[]).map(|c| Config {
            source: String::new(),
            ..c
        });
        let built_in = load("", &[]).map(|c| Config {
            source: String::new(),
            ..c
        });
        assert_eq!(from_file.ok(), built_in.ok());
    }

    #[test]
    fn every_key_of_the_shipped_file_is_known_and_documented() {
        let shipped = include_str!("../config/boothhub.toml");
        for (key, var) in KEYS {
            let name = key.rsplit('.').next().unwrap_or(key);
            let secret = key.starts_with("webhook") || key.starts_with("super_admin");
            assert!(
                shipped.contains(var),
                "{var} is not mentioned in config/boothhub.toml"
            );
            if !secret {
                assert!(
                    shipped.contains(&format!("{name} =")),
                    "{key} has no default in the file"
                );
            }
        }
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = load(
            "listen = \"127.0.0.1:1\"\n",
            &[
                ("BOOTHHUB_LISTEN", "0.0.0.0:9443"),
                (
                    "BOOTHHUB_CORS_ORIGINS",
                    "https://a.example, https://b.example",
                ),
                ("BOOTHHUB_SCYLLA_NODES", "10.0.0.1:9042,10.0.0.2:9042"),
            ],
        );
        let config = config.ok().unwrap_or_else(|| panic!("config should load"));
        assert_eq!(config.listen.to_string(), "0.0.0.0:9443");
        assert_eq!(
            config.cors_origins,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(config.scylla_nodes.len(), 2);
        assert_eq!(config.store, StoreKind::Embedded);
    }

    #[test]
    fn bad_values_name_the_key_and_the_value() {
        let cases = [
            ("BOOTHHUB_LISTEN", "localhost", "BOOTHHUB_LISTEN"),
            ("BOOTHHUB_LISTEN", "127.0.0.1:99999", "BOOTHHUB_LISTEN"),
            ("BOOTHHUB_STORE", "postgres", "BOOTHHUB_STORE"),
            ("BOOTHHUB_LOG_FORMAT", "xml", "BOOTHHUB_LOG_FORMAT"),
            (
                "BOOTHHUB_SCYLLA_NODES",
                "host-without-port",
                "BOOTHHUB_SCYLLA_NODES",
            ),
            (
                "BOOTHHUB_CORS_ORIGINS",
                "example.com",
                "BOOTHHUB_CORS_ORIGINS",
            ),
            (
                "BOOTHHUB_RATE_BOOKING_PER_MINUTE",
                "0",
                "BOOTHHUB_RATE_BOOKING_PER_MINUTE",
            ),
            ("BOOTHHUB_TLS_CERT", "/tmp/cert.pem", "BOOTHHUB_TLS_KEY"),
            (
                "BOOTHHUB_SUPER_ADMIN_EMAIL",
                "root@example.com",
                "BOOTHHUB_SUPER_ADMIN_PASSWORD",
            ),
        ];
        for (var, value, named) in cases {
            let err = load("", &[(var, value)])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains(named), "{var}={value}: {err}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let err = load("listne = \"x\"\n", &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown key `listne`"), "{err}");
    }

    #[test]
    fn serve_needs_a_webhook_secret() {
        let config = load("", &[])
            .ok()
            .unwrap_or_else(|| panic!("defaults load"));
        let err = config
            .check_serve()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("BOOTHHUB_WEBHOOK_SECRET"), "{err}");
        let config = load("", &[("BOOTHHUB_WEBHOOK_SECRET", "0123456789abcdef")]);
        assert!(config.ok().is_some_and(|c| c.check_serve().is_ok()));
    }
}
