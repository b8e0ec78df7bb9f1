//! `config/boothhub.toml` + `BOOTHHUB_*` → a validated [`Config`]. The only module that reads
//! the environment.
//!
//! Each key is declared once, as a field of the struct tree below: the field's name is the key
//! (`section.name`), its `deserialize_with` reads and checks the value, its section's `Default`
//! holds the built-in default (`config/boothhub.toml` repeats them, tested), and its variable
//! follows from the key by [`env_var`].
//!
//! Loading: the file is read into a TOML table; each key whose variable is set takes the
//! variable's value instead; every value is then text, as the environment gives it (a list
//! joined with commas; a blank value means the default); serde reads the table into the tree,
//! refusing unknown keys at every level, and `serde_path_to_error` tells which key a bad value
//! belongs to, so that the message names the key, its variable and the value.

use std::fmt::Display;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// Where configuration comes from when no `--config` is given.
pub const DEFAULT_FILE: &str = "config/boothhub.toml";

/// The variable that names another config file.
pub const CONFIG_FILE_VAR: &str = "BOOTHHUB_CONFIG";

/// Sections whose variables use a shorter name: `rate_limits.login_burst` is
/// `BOOTHHUB_RATE_LOGIN_BURST`.
const SHORT_SECTION_NAMES: &[(&str, &str)] = &[("rate_limits", "rate")];

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
        key: String,
        var: String,
        value: String,
        expected: String,
    },
    #[error("{var} is required by `boothhub serve` ({why})")]
    Missing { var: String, why: &'static str },
}

impl ConfigError {
    fn invalid(key: &str, value: impl Into<String>, expected: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.to_owned(),
            var: env_var(key),
            value: value.into(),
            expected: expected.into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Embedded,
    Scylla,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The settings, section by section as in the file. `Serialize` is there so that [`keys`] can
/// read the keys off the defaults; `Debug` (what `check-config` prints) hides the secrets.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    #[serde(deserialize_with = "address")]
    pub listen: SocketAddr,
    #[serde(deserialize_with = "directory")]
    pub data_dir: PathBuf,
    #[serde(deserialize_with = "store_kind")]
    pub store: StoreKind,
    #[serde(deserialize_with = "log_format")]
    pub log_format: LogFormat,
    #[serde(deserialize_with = "origins")]
    pub cors_origins: Vec<String>,
    #[serde(deserialize_with = "hours::<_, 1, 8760>")]
    pub login_token_ttl_hours: i64,
    #[serde(deserialize_with = "true_or_false")]
    pub metrics_public: bool,
    /// SO_SNDBUF of accepted sockets; 0 leaves the OS's autotuning.
    #[serde(deserialize_with = "send_buffer_bytes")]
    pub socket_send_buffer_bytes: u32,
    pub scylla: ScyllaConfig,
    pub tls: TlsConfig,
    pub rate_limits: RateLimits,
    pub ws: WsSettings,
    pub http: HttpLimits,
    pub webhook: WebhookConfig,
    pub super_admin: SuperAdminConfig,
    pub cluster: ClusterConfig,
    /// Where the settings came from, for the start-up log.
    #[serde(skip)]
    pub source: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("./data"),
            store: StoreKind::Embedded,
            log_format: LogFormat::Text,
            cors_origins: Vec::new(),
            login_token_ttl_hours: 12,
            metrics_public: true,
            socket_send_buffer_bytes: 0,
            scylla: ScyllaConfig::default(),
            tls: TlsConfig::default(),
            rate_limits: RateLimits::default(),
            ws: WsSettings::default(),
            http: HttpLimits::default(),
            webhook: WebhookConfig::default(),
            super_admin: SuperAdminConfig::default(),
            cluster: ClusterConfig::default(),
            source: "built-in defaults".to_owned(),
        }
    }
}

/// The CQL backend, used when `store = "scylla"`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScyllaConfig {
    #[serde(deserialize_with = "host_ports")]
    pub nodes: Vec<String>,
    #[serde(deserialize_with = "cql_identifier")]
    pub keyspace: String,
    /// The keyspace's replication map, used when the hub creates the keyspace.
    #[serde(deserialize_with = "replication_map")]
    pub replication: String,
}

impl Default for ScyllaConfig {
    fn default() -> Self {
        ScyllaConfig {
            nodes: vec!["127.0.0.1:9042".to_owned()],
            keyspace: "boothhub".to_owned(),
            replication: "{'class': 'SimpleStrategy', 'replication_factor': 1}".to_owned(),
        }
    }
}

/// A PEM pair to serve with; none means a self-signed pair in the data dir.
#[derive(Clone, Default, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(deserialize_with = "optional")]
    pub cert: Option<PathBuf>,
    #[serde(deserialize_with = "optional")]
    pub key: Option<PathBuf>,
}

impl TlsConfig {
    /// A certificate goes with its key.
    fn check(&self) -> Result<(), ConfigError> {
        let missing = match (&self.cert, &self.key) {
            (Some(_), None) => "tls.key",
            (None, Some(_)) => "tls.cert",
            _ => return Ok(()),
        };
        let expected = format!(
            "{} and {} are set together",
            env_var("tls.cert"),
            env_var("tls.key")
        );
        Err(ConfigError::invalid(missing, "", expected))
    }
}

/// Several nodes on one ScyllaDB keyspace (contract §8). Without `listen` the node runs
/// alone, as on the embedded store.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// host:port for node-to-node traffic; also the address the node advertises.
    #[serde(deserialize_with = "optional_host_port")]
    pub listen: Option<String>,
    /// The address peers reach this node at, when not `listen` (behind NAT, 0.0.0.0).
    #[serde(deserialize_with = "optional_host_port")]
    pub advertise: Option<String>,
    /// Shared by the nodes; at least 16 characters.
    #[serde(deserialize_with = "optional")]
    pub secret: Option<String>,
}

impl ClusterConfig {
    /// The address this node gives its peers, when it runs in a cluster.
    pub fn address(&self) -> Option<&str> {
        self.advertise.as_deref().or(self.listen.as_deref())
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("listen", &self.listen)
            .field("advertise", &self.advertise)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// How payment webhooks are verified; required by `serve` ([`Config::check_serve`]).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(deserialize_with = "optional")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The first super admin, created at start-up when there is none yet.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SuperAdminConfig {
    #[serde(deserialize_with = "optional")]
    pub email: Option<String>,
    #[serde(deserialize_with = "optional")]
    pub password: Option<String>,
}

impl SuperAdminConfig {
    /// An e-mail address needs a password that any user could have.
    fn check(&self) -> Result<(), ConfigError> {
        let Some(email) = &self.email else {
            return Ok(());
        };
        let valid_password =
            |p: &String| boothhub_actors::domain::records::User::is_valid_password(p);
        if !self.password.as_ref().is_some_and(valid_password) {
            let shown = if self.password.is_some() {
                "<hidden>"
            } else {
                ""
            };
            let expected = format!(
                "a password of 10 to 200 characters, as for any user, when {} is set",
                env_var("super_admin.email")
            );
            return Err(ConfigError::invalid(
                "super_admin.password",
                shown,
                expected,
            ));
        }
        if !boothhub_actors::domain::validate::is_email(email) {
            return Err(ConfigError::invalid(
                "super_admin.email",
                email.as_str(),
                "an e-mail address",
            ));
        }
        Ok(())
    }
}

impl std::fmt::Debug for SuperAdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuperAdminConfig")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Anonymous `POST /booking` per client IP.
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub booking_per_minute: u32,
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub booking_burst: u32,
    /// `POST /auth/login` per client IP.
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub login_per_minute: u32,
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub login_burst: u32,
    /// `POST /session/{id}/arrival` per booth.
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub arrival_per_minute: u32,
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub arrival_burst: u32,
    /// Failed logins for one e-mail address within the window before it answers 429.
    #[serde(deserialize_with = "whole_number::<_, 1, 100_000>")]
    pub login_failures_per_account: u32,
    #[serde(deserialize_with = "minutes::<_, 1, 1440>")]
    pub login_failure_window_minutes: u32,
}

impl RateLimits {
    pub fn booking(&self) -> Limit {
        Limit {
            per_minute: self.booking_per_minute,
            burst: self.booking_burst,
        }
    }

    pub fn login(&self) -> Limit {
        Limit {
            per_minute: self.login_per_minute,
            burst: self.login_burst,
        }
    }

    pub fn arrival(&self) -> Limit {
        Limit {
            per_minute: self.arrival_per_minute,
            burst: self.arrival_burst,
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            booking_per_minute: 30,
            booking_burst: 10,
            login_per_minute: 10,
            login_burst: 5,
            arrival_per_minute: 30,
            arrival_burst: 10,
            login_failures_per_account: 10,
            login_failure_window_minutes: 15,
        }
    }
}

/// What one client connection may hold of the hub's time and file descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpLimits {
    /// A request head must arrive whole within this long.
    #[serde(deserialize_with = "seconds::<_, 1, 3600>")]
    pub header_timeout_seconds: u64,
    /// A keep-alive connection with no request in flight closes after this long.
    #[serde(deserialize_with = "seconds::<_, 1, 86_400>")]
    pub idle_timeout_seconds: u64,
    /// A request body must arrive whole within this long (else 408).
    #[serde(deserialize_with = "seconds::<_, 1, 3600>")]
    pub body_timeout_seconds: u64,
    /// Open client connections in all.
    #[serde(deserialize_with = "connections::<_, 16, 1_000_000>")]
    pub max_connections: usize,
    /// Open connections per client IP that have not authenticated.
    #[serde(deserialize_with = "connections::<_, 1, 1_000_000>")]
    pub max_connections_per_ip: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 30,
            max_connections: 25_000,
            max_connections_per_ip: 256,
        }
    }
}

/// The WebSocket hub's timings and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsSettings {
    #[serde(deserialize_with = "seconds::<_, 1, 3600>")]
    pub ping_interval_seconds: u64,
    #[serde(deserialize_with = "seconds::<_, 2, 7200>")]
    pub idle_timeout_seconds: u64,
    #[serde(deserialize_with = "queue_length::<_, 8, 1_000_000>")]
    pub queue_capacity: usize,
    /// The first wait before an unacked booth event is sent again (then 2×, 4×, 8×…).
    #[serde(deserialize_with = "milliseconds::<_, 10, 600_000>")]
    pub retry_base_ms: u64,
    /// Streams one connection may hold subscribed.
    #[serde(deserialize_with = "streams::<_, 1, 10_000>")]
    pub max_streams: usize,
    /// WebSocket connections one token may hold open (the oldest is closed with 4409).
    #[serde(deserialize_with = "connections::<_, 1, 10_000>")]
    pub max_connections_per_token: usize,
    /// Unacked events a booth actor keeps for its booth; beyond, the oldest is dead-lettered.
    #[serde(deserialize_with = "events::<_, 16, 1_000_000>")]
    pub max_unacked: usize,
}

impl Default for WsSettings {
    fn default() -> Self {
        WsSettings {
            ping_interval_seconds: 15,
            idle_timeout_seconds: 45,
            queue_capacity: 8192,
            retry_base_ms: 1000,
            max_streams: 100,
            max_connections_per_token: 20,
            max_unacked: 1024,
        }
    }
}

/// The environment variable of a key: `BOOTHHUB_` and the key in capitals, `.` as `_`
/// (`ws.max_streams` → `BOOTHHUB_WS_MAX_STREAMS`), a section of [`SHORT_SECTION_NAMES`] by its
/// short name.
pub fn env_var(key: &str) -> String {
    let shortened = SHORT_SECTION_NAMES.iter().find_map(|(section, short)| {
        let name = key.strip_prefix(section)?.strip_prefix('.')?;
        Some(format!("{short}.{name}"))
    });
    let name = shortened.as_deref().unwrap_or(key);
    format!("BOOTHHUB_{}", name.replace('.', "_").to_uppercase())
}

/// Every key, `section.name`, read off the struct tree (its defaults, serialised), so that the
/// structs stay the one list of keys.
pub fn keys() -> Vec<String> {
    let mut keys = Vec::new();
    if let Ok(defaults) = serde_json::to_value(Config::default()) {
        leaf_keys("", &defaults, &mut keys);
    }
    keys
}

fn leaf_keys(key: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    let serde_json::Value::Object(fields) = value else {
        out.push(key.to_owned());
        return;
    };
    for (name, field) in fields {
        let inner = if key.is_empty() {
            name.clone()
        } else {
            format!("{key}.{name}")
        };
        leaf_keys(&inner, field, out);
    }
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
        let (mut table, source) = match &path {
            Some(path) => {
                let shown = path.display().to_string();
                (read_table(path, &shown)?, shown)
            }
            None => (toml::Table::new(), "built-in defaults".to_owned()),
        };
        for key in keys() {
            if let Some(value) = env(&env_var(&key)) {
                set(&mut table, &key, value);
            }
        }
        let texts = as_text(table);
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(texts.clone()))
            .map_err(|error| key_error(&error, &texts, &source))?;
        config.tls.check()?;
        config.super_admin.check()?;
        Ok(Config { source, ..config })
    }

    /// What `serve` needs beyond a valid config.
    pub fn check_serve(&self) -> Result<(), ConfigError> {
        self.check_cluster()?;
        match &self.webhook.secret {
            Some(secret) if secret.len() >= 16 => Ok(()),
            Some(_) => Err(ConfigError::invalid(
                "webhook.secret",
                "<too short>",
                "a shared secret of at least 16 characters",
            )),
            None => Err(ConfigError::Missing {
                var: env_var("webhook.secret"),
                why: "payment webhooks are verified with it",
            }),
        }
    }
}

impl Config {
    /// A cluster needs the shared store and a shared secret; its other keys need `listen`.
    fn check_cluster(&self) -> Result<(), ConfigError> {
        let cluster = &self.cluster;
        let Some(listen) = &cluster.listen else {
            if cluster.advertise.is_some() || cluster.secret.is_some() {
                return Err(ConfigError::Missing {
                    var: env_var("cluster.listen"),
                    why: "a node joins a cluster with it; BOOTHHUB_CLUSTER_ADVERTISE and _SECRET are for cluster nodes only",
                });
            }
            return Ok(());
        };
        if self.store != StoreKind::Scylla {
            return Err(ConfigError::invalid(
                "cluster.listen",
                listen.clone(),
                "only with store = scylla (BOOTHHUB_STORE=scylla): the nodes of a cluster share one keyspace",
            ));
        }
        match &cluster.secret {
            Some(secret) if secret.len() >= 16 => Ok(()),
            Some(_) => Err(ConfigError::invalid(
                "cluster.secret",
                "<too short>",
                "a shared secret of at least 16 characters",
            )),
            None => Err(ConfigError::Missing {
                var: env_var("cluster.secret"),
                why: "the nodes of a cluster authenticate each other with it",
            }),
        }
    }
}

fn read_table(path: &Path, shown: &str) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: shown.to_owned(),
        reason: e.to_string(),
    })?;
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: shown.to_owned(),
            reason: e.message().to_owned(),
        })
}

/// Puts `value` at `key` (`section.name`), adding the section when the file has none. A
/// section the file gives as a plain value stays so, and is refused as an unknown key.
fn set(table: &mut toml::Table, key: &str, value: String) {
    let Some((section, rest)) = key.split_once('.') else {
        table.insert(key.to_owned(), toml::Value::String(value));
        return;
    };
    let entry = table
        .entry(section)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(inner) = entry {
        set(inner, rest, value);
    }
}

/// Every value as text, as the environment gives it: a string as it is, a list joined with
/// commas, anything else as TOML writes it. Blank values are left out, so that their key takes
/// its default (`cert = ""`, `BOOTHHUB_TLS_CERT=`). Sections stay tables.
fn as_text(table: toml::Table) -> toml::Table {
    let mut texts = toml::Table::new();
    for (name, value) in table {
        let text = match value {
            toml::Value::Table(inner) => toml::Value::Table(as_text(inner)),
            leaf => {
                let line = written(&leaf);
                if line.trim().is_empty() {
                    continue;
                }
                toml::Value::String(line)
            }
        };
        texts.insert(name, text);
    }
    texts
}

/// A value as the file writes it, as one line of text.
fn written(value: &toml::Value) -> String {
    match value {
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
    }
}

/// Serde's error as ours. At a key holding a value, the value was bad: the message names the
/// key, its variable and the value as written, and says what was expected. Anywhere else the
/// file has a key we do not know (a section, or a table where a value belongs, is named by its
/// first key: `nope.x`).
fn key_error(
    error: &serde_path_to_error::Error<toml::de::Error>,
    texts: &toml::Table,
    source: &str,
) -> ConfigError {
    let key = error.path().to_string();
    let found = lookup(texts, &key);
    if let Some(toml::Value::String(value)) = found
        && keys().contains(&key)
    {
        return ConfigError::invalid(&key, value.as_str(), error.inner().message());
    }
    ConfigError::UnknownKey {
        path: source.to_owned(),
        key: first_key(key, found),
        known: keys().join(", "),
    }
}

/// `key`, or when it holds a table, the first key inside it (`nope` → `nope.x`).
fn first_key(key: String, value: Option<&toml::Value>) -> String {
    let first = value
        .and_then(toml::Value::as_table)
        .and_then(|table| table.iter().next());
    match first {
        Some((name, inner)) => first_key(format!("{key}.{name}"), Some(inner)),
        None => key,
    }
}

fn lookup<'a>(table: &'a toml::Table, key: &str) -> Option<&'a toml::Value> {
    match key.split_once('.') {
        None => table.get(key),
        Some((section, rest)) => lookup(table.get(section)?.as_table()?, rest),
    }
}

// How each kind of value is read. The text arrives untrimmed; `parsed` trims it. An error's
// message is what was expected; `key_error` adds the key, its variable and the value.

fn parsed<'de, D, T>(
    deserializer: D,
    expected: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let text = String::deserialize(deserializer)?;
    parse(text.trim()).ok_or_else(|| D::Error::custom(expected))
}

/// A whole number from `min` to `max`, described as "`what` from `min` to `max`".
fn within<'de, D, T>(deserializer: D, what: &str, min: T, max: T) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr + PartialOrd + Display + Copy,
{
    let expected = format!("{what} from {min} to {max}");
    parsed(deserializer, &expected, |v| {
        v.parse().ok().filter(|n| (min..=max).contains(n))
    })
}

fn seconds<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<u64, D::Error> {
    within(d, "seconds", MIN, MAX)
}

fn milliseconds<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    d: D,
) -> Result<u64, D::Error> {
    within(d, "milliseconds", MIN, MAX)
}

fn minutes<'de, D: Deserializer<'de>, const MIN: u32, const MAX: u32>(
    d: D,
) -> Result<u32, D::Error> {
    within(d, "minutes", MIN, MAX)
}

fn hours<'de, D: Deserializer<'de>, const MIN: i64, const MAX: i64>(d: D) -> Result<i64, D::Error> {
    within(d, "hours", MIN, MAX)
}

fn whole_number<'de, D: Deserializer<'de>, const MIN: u32, const MAX: u32>(
    d: D,
) -> Result<u32, D::Error> {
    within(d, "a whole number", MIN, MAX)
}

fn connections<'de, D: Deserializer<'de>, const MIN: usize, const MAX: usize>(
    d: D,
) -> Result<usize, D::Error> {
    within(d, "a number of connections", MIN, MAX)
}

fn streams<'de, D: Deserializer<'de>, const MIN: usize, const MAX: usize>(
    d: D,
) -> Result<usize, D::Error> {
    within(d, "a number of streams", MIN, MAX)
}

fn events<'de, D: Deserializer<'de>, const MIN: usize, const MAX: usize>(
    d: D,
) -> Result<usize, D::Error> {
    within(d, "a number of events", MIN, MAX)
}

fn queue_length<'de, D: Deserializer<'de>, const MIN: usize, const MAX: usize>(
    d: D,
) -> Result<usize, D::Error> {
    within(d, "a queue length", MIN, MAX)
}

fn send_buffer_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    parsed(
        d,
        "0 (the OS decides) or bytes from 4096 to 67108864",
        |v| {
            v.parse()
                .ok()
                .filter(|b| *b == 0 || (4096..=67_108_864).contains(b))
        },
    )
}

fn true_or_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    parsed(d, "true or false", |v| v.parse().ok())
}

fn address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    parsed(d, "an address:port such as 127.0.0.1:8443", |v| {
        v.parse().ok()
    })
}

fn directory<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
    parsed(d, "a directory path", |v| Some(PathBuf::from(v)))
}

fn store_kind<'de, D: Deserializer<'de>>(d: D) -> Result<StoreKind, D::Error> {
    parsed(d, "embedded or scylla", |v| match v {
        "embedded" => Some(StoreKind::Embedded),
        "scylla" => Some(StoreKind::Scylla),
        _ => None,
    })
}

fn log_format<'de, D: Deserializer<'de>>(d: D) -> Result<LogFormat, D::Error> {
    parsed(d, "text or json", |v| match v {
        "text" => Some(LogFormat::Text),
        "json" => Some(LogFormat::Json),
        _ => None,
    })
}

/// A value left out or blank is `None` (the key's default).
fn optional<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: From<String>,
{
    let text = String::deserialize(d)?;
    let trimmed = text.trim();
    Ok((!trimmed.is_empty()).then(|| T::from(trimmed.to_owned())))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    parsed(d, "comma-separated https:// or http:// origins", |v| {
        let origins = list(v);
        origins
            .iter()
            .all(|o| {
                (o.starts_with("https://") || o.starts_with("http://"))
                    && !o.ends_with('/')
                    && axum::http::HeaderValue::from_str(o).is_ok()
            })
            .then_some(origins)
    })
}

fn host_ports<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    parsed(d, "comma-separated host:port", |v| {
        let nodes = list(v);
        let valid = !nodes.is_empty()
            && nodes.iter().all(|n| {
                n.rsplit_once(':').is_some_and(|(host, port)| {
                    !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
                })
            });
        valid.then_some(nodes)
    })
}

fn optional_host_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    parsed(d, "host:port, or nothing", |v| {
        if v.is_empty() {
            return Some(None);
        }
        let (host, port) = v.rsplit_once(':')?;
        let valid = !host.is_empty()
            && !host.contains(char::is_whitespace)
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        valid.then(|| Some(v.to_owned()))
    })
}

fn cql_identifier<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    parsed(d, "a CQL identifier (letters, digits, _)", |v| {
        let valid = !v.is_empty()
            && v.len() <= 48
            && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        valid.then(|| v.to_owned())
    })
}

fn replication_map<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let expected = "a CQL replication map such as {'class': 'NetworkTopologyStrategy', 'dc1': 3}";
    parsed(d, expected, |v| {
        let valid =
            v.starts_with('{') && v.ends_with('}') && v.contains("'class'") && !v.contains(';');
        valid.then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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

    fn message(file: &str, env: &[(&str, &str)]) -> String {
        load(file, env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    /// The file's text setting `key` to `value` (a TOML value).
    fn file_setting(key: &str, value: &str) -> String {
        match key.split_once('.') {
            Some((section, name)) => format!("[{section}]\n{name} = {value}\n"),
            None => format!("{key} = {value}\n"),
        }
    }

    /// A key's value in a loaded config, as text the way the environment writes it.
    fn reading(config: &Config, key: &str) -> String {
        let tree = serde_json::to_value(config).unwrap_or_default();
        let value = key.split('.').fold(&tree, |value, name| &value[name]);
        match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(","),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// For each key a valid value other than its default.
    const SAMPLES: &[(&str, &str)] = &[
        ("listen", "0.0.0.0:9443"),
        ("data_dir", "/srv/boothhub"),
        ("store", "scylla"),
        ("log_format", "json"),
        ("cors_origins", "https://a.example,https://b.example"),
        ("login_token_ttl_hours", "24"),
        ("metrics_public", "false"),
        ("socket_send_buffer_bytes", "65536"),
        ("scylla.nodes", "10.0.0.1:9042,10.0.0.2:9042"),
        ("scylla.keyspace", "hub_test"),
        (
            "scylla.replication",
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
        ),
        ("tls.cert", "/etc/boothhub/cert.pem"),
        ("tls.key", "/etc/boothhub/key.pem"),
        ("rate_limits.booking_per_minute", "31"),
        ("rate_limits.booking_burst", "11"),
        ("rate_limits.login_per_minute", "12"),
        ("rate_limits.login_burst", "6"),
        ("rate_limits.arrival_per_minute", "32"),
        ("rate_limits.arrival_burst", "13"),
        ("rate_limits.login_failures_per_account", "9"),
        ("rate_limits.login_failure_window_minutes", "20"),
        ("ws.ping_interval_seconds", "16"),
        ("ws.idle_timeout_seconds", "46"),
        ("ws.queue_capacity", "9000"),
        ("ws.retry_base_ms", "1500"),
        ("ws.max_streams", "101"),
        ("ws.max_connections_per_token", "21"),
        ("ws.max_unacked", "2048"),
        ("http.header_timeout_seconds", "11"),
        ("http.idle_timeout_seconds", "61"),
        ("http.body_timeout_seconds", "31"),
        ("http.max_connections", "30000"),
        ("http.max_connections_per_ip", "300"),
        ("webhook.secret", "0123456789abcdef"),
        ("super_admin.email", "root@example.com"),
        ("super_admin.password", "long-enough-1"),
        ("cluster.listen", "127.0.0.1:7443"),
        ("cluster.advertise", "10.0.0.5:7443"),
        ("cluster.secret", "cluster-secret-0123"),
    ];

    /// Keys that go in pairs, set to other values than the samples, so that either may change
    /// alone.
    const PAIRED: &[(&str, &str)] = &[
        ("BOOTHHUB_TLS_CERT", "/base/cert.pem"),
        ("BOOTHHUB_TLS_KEY", "/base/key.pem"),
        ("BOOTHHUB_SUPER_ADMIN_EMAIL", "base@example.com"),
        ("BOOTHHUB_SUPER_ADMIN_PASSWORD", "base-password-1"),
    ];

    /// Keys whose value is any text: no value of theirs is refused on its own.
    const FREE_TEXT: &[&str] = &[
        "data_dir",
        "tls.cert",
        "tls.key",
        "webhook.secret",
        "super_admin.email",
        "super_admin.password",
        "cluster.secret",
    ];

    fn sample(key: &str) -> &'static str {
        SAMPLES
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("no sample value for {key}: add one to SAMPLES"))
    }

    #[test]
    fn the_shipped_file_holds_the_built_in_defaults() {
        let shipped = include_str!("../config/boothhub.toml");
        let unsourced = |c: Config| Config {
            source: String::new(),
            ..c
        };
        let from_file = load(shipped, &[]).map(unsourced);
        let built_in = load("", &[]).map(unsourced);
        assert_eq!(from_file.ok(), built_in.ok());
        assert_eq!(
            load("", &[]).ok().map(unsourced),
            Some(unsourced(Config::default()))
        );
    }

    #[test]
    fn every_key_of_the_shipped_file_is_known_and_documented() {
        let shipped = include_str!("../config/boothhub.toml");
        let mut section = String::new();
        let mut documented = Vec::new();
        for line in shipped.lines().filter(|l| !l.starts_with('#')) {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = format!("{name}.");
                continue;
            }
            let Some((name, rest)) = line.split_once(" = ") else {
                continue;
            };
            let key = format!("{section}{name}");
            let comment = rest.split_once('#').map(|(_, c)| c.trim()).unwrap_or("");
            let var = comment.split(':').next().unwrap_or("");
            assert_eq!(var, env_var(&key), "the comment beside {key}");
            documented.push(key);
        }
        for key in keys() {
            let secret = key.starts_with("webhook.")
                || key.starts_with("super_admin.")
                || key == "cluster.secret";
            if secret {
                assert!(
                    shipped.contains(&env_var(&key)),
                    "{} is not mentioned in config/boothhub.toml",
                    env_var(&key)
                );
            } else {
                assert!(
                    documented.contains(&key),
                    "{key} has no default in the file"
                );
            }
        }
        assert!(documented.iter().all(|key| keys().contains(key)));
    }

    #[test]
    fn each_key_has_its_own_variable() {
        let keys = keys();
        assert_eq!(keys.len(), SAMPLES.len(), "{keys:?}");
        let mut vars: Vec<String> = keys.iter().map(|key| env_var(key)).collect();
        vars.push(CONFIG_FILE_VAR.to_owned());
        vars.sort();
        vars.dedup();
        assert_eq!(vars.len(), keys.len() + 1, "two keys share a variable");
        assert_eq!(env_var("listen"), "BOOTHHUB_LISTEN");
        assert_eq!(env_var("ws.max_streams"), "BOOTHHUB_WS_MAX_STREAMS");
        assert_eq!(
            env_var("rate_limits.booking_per_minute"),
            "BOOTHHUB_RATE_BOOKING_PER_MINUTE"
        );
    }

    #[test]
    fn every_key_is_set_by_its_variable_and_by_the_file() {
        let base = load("", PAIRED)
            .ok()
            .unwrap_or_else(|| panic!("base loads"));
        for key in keys() {
            let value = sample(&key);
            let var = env_var(&key);
            let others: Vec<(&str, &str)> =
                PAIRED.iter().copied().filter(|(v, _)| *v != var).collect();
            let from_env = load("", &[others.as_slice(), &[(&var, value)]].concat());
            let quoted = format!("{value:?}");
            let from_file = load(&file_setting(&key, &quoted), &others);
            for (source, loaded) in [("env", from_env), ("file", from_file)] {
                let config = loaded.unwrap_or_else(|e| panic!("{key} from {source}: {e}"));
                assert_ne!(reading(&base, &key), value, "{key}: pick another sample");
                assert_eq!(reading(&config, &key), value, "{key} from {source}");
                for other in keys().iter().filter(|other| **other != key) {
                    assert_eq!(
                        reading(&config, other),
                        reading(&base, other),
                        "{key} from {source} changed {other}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_bad_value_of_any_key_names_the_key_its_variable_and_the_value() {
        for key in keys()
            .iter()
            .filter(|key| !FREE_TEXT.contains(&key.as_str()))
        {
            let var = env_var(key);
            let prefix = format!("invalid {key} ({var}) = \"-1;\": ");
            let from_env = message("", &[(&var, "-1;")]);
            let from_file = message(&file_setting(key, "\"-1;\""), &[]);
            for err in [from_env, from_file] {
                assert!(err.starts_with(&prefix), "{key}: {err}");
            }
        }
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
            let err = message("", &[(var, value)]);
            assert!(err.contains(named), "{var}={value}: {err}");
        }
    }

    #[test]
    fn each_kind_of_value_says_what_it_expects() {
        let cases = [
            (
                "BOOTHHUB_LISTEN",
                " localhost ",
                "invalid listen (BOOTHHUB_LISTEN) = \" localhost \": an address:port such as 127.0.0.1:8443",
            ),
            (
                "BOOTHHUB_STORE",
                "postgres",
                "invalid store (BOOTHHUB_STORE) = \"postgres\": embedded or scylla",
            ),
            (
                "BOOTHHUB_LOG_FORMAT",
                "xml",
                "invalid log_format (BOOTHHUB_LOG_FORMAT) = \"xml\": text or json",
            ),
            (
                "BOOTHHUB_CORS_ORIGINS",
                "https://a.example/",
                "invalid cors_origins (BOOTHHUB_CORS_ORIGINS) = \"https://a.example/\": comma-separated https:// or http:// origins",
            ),
            (
                "BOOTHHUB_LOGIN_TOKEN_TTL_HOURS",
                "8761",
                "invalid login_token_ttl_hours (BOOTHHUB_LOGIN_TOKEN_TTL_HOURS) = \"8761\": hours from 1 to 8760",
            ),
            (
                "BOOTHHUB_METRICS_PUBLIC",
                "yes",
                "invalid metrics_public (BOOTHHUB_METRICS_PUBLIC) = \"yes\": true or false",
            ),
            (
                "BOOTHHUB_SOCKET_SEND_BUFFER_BYTES",
                "4095",
                "invalid socket_send_buffer_bytes (BOOTHHUB_SOCKET_SEND_BUFFER_BYTES) = \"4095\": 0 (the OS decides) or bytes from 4096 to 67108864",
            ),
            (
                "BOOTHHUB_SCYLLA_NODES",
                "h:0",
                "invalid scylla.nodes (BOOTHHUB_SCYLLA_NODES) = \"h:0\": comma-separated host:port",
            ),
            (
                "BOOTHHUB_SCYLLA_KEYSPACE",
                "1abc",
                "invalid scylla.keyspace (BOOTHHUB_SCYLLA_KEYSPACE) = \"1abc\": a CQL identifier (letters, digits, _)",
            ),
            (
                "BOOTHHUB_SCYLLA_REPLICATION",
                "{'class': 'x'};",
                "invalid scylla.replication (BOOTHHUB_SCYLLA_REPLICATION) = \"{'class': 'x'};\": a CQL replication map such as {'class': 'NetworkTopologyStrategy', 'dc1': 3}",
            ),
            (
                "BOOTHHUB_RATE_BOOKING_PER_MINUTE",
                "100001",
                "invalid rate_limits.booking_per_minute (BOOTHHUB_RATE_BOOKING_PER_MINUTE) = \"100001\": a whole number from 1 to 100000",
            ),
            (
                "BOOTHHUB_RATE_LOGIN_FAILURE_WINDOW_MINUTES",
                "1441",
                "invalid rate_limits.login_failure_window_minutes (BOOTHHUB_RATE_LOGIN_FAILURE_WINDOW_MINUTES) = \"1441\": minutes from 1 to 1440",
            ),
            (
                "BOOTHHUB_WS_IDLE_TIMEOUT_SECONDS",
                "1",
                "invalid ws.idle_timeout_seconds (BOOTHHUB_WS_IDLE_TIMEOUT_SECONDS) = \"1\": seconds from 2 to 7200",
            ),
            (
                "BOOTHHUB_WS_QUEUE_CAPACITY",
                "7",
                "invalid ws.queue_capacity (BOOTHHUB_WS_QUEUE_CAPACITY) = \"7\": a queue length from 8 to 1000000",
            ),
            (
                "BOOTHHUB_WS_RETRY_BASE_MS",
                "9",
                "invalid ws.retry_base_ms (BOOTHHUB_WS_RETRY_BASE_MS) = \"9\": milliseconds from 10 to 600000",
            ),
            (
                "BOOTHHUB_WS_MAX_STREAMS",
                "-1",
                "invalid ws.max_streams (BOOTHHUB_WS_MAX_STREAMS) = \"-1\": a number of streams from 1 to 10000",
            ),
            (
                "BOOTHHUB_WS_MAX_UNACKED",
                "99999999999999999999",
                "invalid ws.max_unacked (BOOTHHUB_WS_MAX_UNACKED) = \"99999999999999999999\": a number of events from 16 to 1000000",
            ),
            (
                "BOOTHHUB_HTTP_MAX_CONNECTIONS",
                "15",
                "invalid http.max_connections (BOOTHHUB_HTTP_MAX_CONNECTIONS) = \"15\": a number of connections from 16 to 1000000",
            ),
            (
                "BOOTHHUB_TLS_KEY",
                "/k",
                "invalid tls.cert (BOOTHHUB_TLS_CERT) = \"\": BOOTHHUB_TLS_CERT and BOOTHHUB_TLS_KEY are set together",
            ),
            (
                "BOOTHHUB_SUPER_ADMIN_EMAIL",
                "root@example.com",
                "invalid super_admin.password (BOOTHHUB_SUPER_ADMIN_PASSWORD) = \"\": a password of 10 to 200 characters, as for any user, when BOOTHHUB_SUPER_ADMIN_EMAIL is set",
            ),
        ];
        for (var, value, expected) in cases {
            assert_eq!(message("", &[(var, value)]), expected, "{var}={value}");
        }
        let short_password = [
            ("BOOTHHUB_SUPER_ADMIN_EMAIL", "root@example.com"),
            ("BOOTHHUB_SUPER_ADMIN_PASSWORD", "short"),
        ];
        assert!(
            message("", &short_password).contains("= \"<hidden>\": a password of 10 to 200"),
            "a password is never shown"
        );
        let bad_email = [
            ("BOOTHHUB_SUPER_ADMIN_EMAIL", "root"),
            ("BOOTHHUB_SUPER_ADMIN_PASSWORD", "long-enough-1"),
        ];
        assert_eq!(
            message("", &bad_email),
            "invalid super_admin.email (BOOTHHUB_SUPER_ADMIN_EMAIL) = \"root\": an e-mail address"
        );
    }

    #[test]
    fn a_value_from_the_file_is_shown_as_written() {
        let cases = [
            (
                "[ws]\nmax_streams = 0\n",
                "invalid ws.max_streams (BOOTHHUB_WS_MAX_STREAMS) = \"0\": a number of streams from 1 to 10000",
            ),
            (
                "cors_origins = [\"https://a.example\", \"example.com\"]\n",
                "invalid cors_origins (BOOTHHUB_CORS_ORIGINS) = \"https://a.example,example.com\": comma-separated https:// or http:// origins",
            ),
            (
                "login_token_ttl_hours = 12.5\n",
                "invalid login_token_ttl_hours (BOOTHHUB_LOGIN_TOKEN_TTL_HOURS) = \"12.5\": hours from 1 to 8760",
            ),
        ];
        for (file, expected) in cases {
            assert_eq!(message(file, &[]), expected, "{file}");
        }
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let err = message("listne = \"x\"\n", &[]);
        assert!(err.contains("unknown key `listne`"), "{err}");
        assert!(
            err.contains("(known keys: cluster.advertise, cluster.listen, cluster.secret, cors_origins, data_dir, "),
            "{err}"
        );
        let mut sections: Vec<&str> = Vec::new();
        let keys = keys();
        for key in &keys {
            if let Some((section, _)) = key.split_once('.') {
                sections.push(section);
            }
        }
        sections.dedup();
        assert_eq!(sections.len(), 8, "{sections:?}");
        for section in sections {
            let err = message(&format!("[{section}]\nnope = 1\n"), &[]);
            assert!(
                err.contains(&format!("unknown key `{section}.nope`")),
                "{err}"
            );
        }
        let cases = [
            ("[nope]\nx = 1\n", "unknown key `nope.x`"),
            ("[nope]\n", "unknown key `nope`"),
            ("[ws.deeper]\nx = 1\n", "unknown key `ws.deeper.x`"),
            ("[listen]\na = 1\n", "unknown key `listen.a`"),
            ("ws = 5\n", "unknown key `ws`"),
            ("source = \"x\"\n", "unknown key `source`"),
        ];
        for (file, expected) in cases {
            let err = message(file, &[]);
            assert!(err.starts_with(expected), "{file}: {err}");
        }
    }

    #[test]
    fn an_unknown_variable_is_ignored() {
        let config = load("", &[("BOOTHHUB_NOPE", "x"), ("BOOTHHUB_WS", "x")]);
        let unsourced = config.ok().map(|c| Config {
            source: String::new(),
            ..c
        });
        let defaults = Config {
            source: String::new(),
            ..Config::default()
        };
        assert_eq!(unsourced, Some(defaults));
    }

    #[test]
    fn a_blank_value_means_the_default() {
        let listen = |file: &str, env: &[(&str, &str)]| load(file, env).ok().map(|c| c.listen);
        let default = Some(Config::default().listen);
        assert_eq!(listen("listen = \"  \"\n", &[]), default);
        assert_eq!(listen("", &[("BOOTHHUB_LISTEN", "")]), default);
        let in_file = "listen = \"127.0.0.1:1\"\n";
        assert_eq!(listen(in_file, &[("BOOTHHUB_LISTEN", " ")]), default);
        let nodes = load("[scylla]\nnodes = []\n", &[])
            .ok()
            .map(|c| c.scylla.nodes);
        assert_eq!(nodes, Some(Config::default().scylla.nodes));
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
        assert_eq!(config.scylla.nodes.len(), 2);
        assert_eq!(config.store, StoreKind::Embedded);
    }

    #[test]
    fn secrets_are_hidden_when_printed() {
        let config = load(
            "",
            &[
                ("BOOTHHUB_WEBHOOK_SECRET", "whsec-0123456789abcdef"),
                ("BOOTHHUB_SUPER_ADMIN_EMAIL", "root@example.com"),
                ("BOOTHHUB_SUPER_ADMIN_PASSWORD", "long-enough-1"),
            ],
        );
        let printed = format!("{:#?}", config.ok());
        assert!(printed.contains("root@example.com"), "{printed}");
        assert!(!printed.contains("whsec-0123456789abcdef"), "{printed}");
        assert!(!printed.contains("long-enough-1"), "{printed}");
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
        assert_eq!(
            err,
            "BOOTHHUB_WEBHOOK_SECRET is required by `boothhub serve` (payment webhooks are verified with it)"
        );
        let short = load("", &[("BOOTHHUB_WEBHOOK_SECRET", "short")]);
        let err = short.ok().and_then(|c| c.check_serve().err());
        assert_eq!(
            err.map(|e| e.to_string()).unwrap_or_default(),
            "invalid webhook.secret (BOOTHHUB_WEBHOOK_SECRET) = \"<too short>\": a shared secret of at least 16 characters"
        );
        let config = load("", &[("BOOTHHUB_WEBHOOK_SECRET", "0123456789abcdef")]);
        assert!(config.ok().is_some_and(|c| c.check_serve().is_ok()));
    }
}
