//! The metric names the transports record, each declared once with what it measures (the
//! actors declare theirs in `boothhub_actors::metrics`). [`describe`] gives Prometheus the
//! help text of every metric of the hub.

use boothhub_actors::declare_metrics;
use boothhub_actors::metrics::{ACTOR_METRICS, Metric};

declare_metrics!(TRANSPORT_METRICS {
    Counter HTTP_REQUESTS = "boothhub_http_requests_total":
        "HTTP requests answered, by route, method and status.";
    Histogram HTTP_REQUEST_DURATION = "boothhub_http_request_duration_seconds":
        "Time to answer an HTTP request, by route and method.";
    Counter HTTP_BODY_TIMEOUTS = "boothhub_http_body_timeouts_total":
        "Requests answered 408 because their body did not arrive in time.";
    Gauge CONNECTIONS_OPEN = "boothhub_connections_open":
        "Client connections open (HTTPS and WebSocket).";
    Counter CONNECTIONS_REFUSED = "boothhub_connections_refused_total":
        "Connections closed at accept because a connection cap was reached, by cap.";
    Counter CONNECTIONS_TIMED_OUT = "boothhub_connections_timed_out_total":
        "Connections closed past a deadline, by phase (header, idle).";
    Counter CLUSTER_FORWARDED = "boothhub_cluster_forwarded_requests_total":
        "Requests handed to the node that acts for their booking, by result (answered, failed: answered 503).";
    Histogram WEBHOOK_DURATION = "boothhub_webhook_duration_seconds":
        "Time to verify and apply a payment webhook.";
    Counter WEBHOOK_REJECTED = "boothhub_webhook_rejected_total":
        "Payment webhooks refused for their signature, by reason.";
    Counter RATE_LIMIT_SWEEPS = "boothhub_rate_limit_sweeps_total":
        "Sweeps of a rate limiter's table for stale entries, by table.";
    Counter RATE_LIMIT_UNTRACKED = "boothhub_rate_limit_untracked_total":
        "Callers a full rate-limiter table could not track, by table.";
    Counter LOGIN_ACCOUNT_LIMITED = "boothhub_login_account_limited_total":
        "Logins answered 429 because their account had too many recent failures.";
    Gauge PASSWORD_CHECKS_WAITING = "boothhub_password_checks_waiting":
        "Password hashes waiting for one of the bounded argon2 permits.";
    Gauge WS_CONNECTIONS = "boothhub_ws_connections":
        "WebSockets open, by role.";
    Counter WS_BAD_MESSAGES = "boothhub_ws_bad_messages_total":
        "WebSocket messages that closed their socket (too large, bad UTF-8, ...), by fault.";
    Counter WS_FOREIGN_ORIGIN = "boothhub_ws_foreign_origin_total":
        "Cookie WebSocket upgrades refused for coming from another origin.";
    Counter WS_CLOSED_TOO_MANY = "boothhub_ws_closed_too_many_total":
        "WebSockets closed with 4409 because their token opened one too many.";
    Counter WS_CLOSED_REVOKED = "boothhub_ws_closed_revoked_total":
        "WebSockets closed with 4401 because their token stopped working.";
    Histogram PUSH_LATENCY = "boothhub_push_latency_seconds":
        "Time from an event's commit to its frame written to a client's socket.";
});

/// Every metric of the hub: the transports' and the actors'.
pub fn all() -> impl Iterator<Item = &'static Metric> {
    TRANSPORT_METRICS.iter().chain(ACTOR_METRICS)
}

/// Gives the installed recorder the help text of every metric of the hub.
pub fn describe() {
    boothhub_actors::metrics::describe(TRANSPORT_METRICS);
    boothhub_actors::metrics::describe(ACTOR_METRICS);
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::path::Path;

    use super::*;

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_metric_is_recorded_by_its_declared_name() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        sources(&root.join("src"), &mut files);
        sources(&root.join("actors/src"), &mut files);
        let declared: HashSet<&str> = all().map(|m| m.name).collect();
        assert_eq!(declared.len(), all().count(), "a metric is declared twice");
        let mut used = HashSet::new();
        // The declarations themselves are not recording sites.
        files.retain(|file| !file.ends_with("metrics.rs"));
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for macro_name in ["counter!(", "gauge!(", "histogram!("] {
                for (at, _) in text.match_indices(macro_name) {
                    let argument = text[at + macro_name.len()..].trim_start();
                    assert!(
                        !argument.starts_with('"'),
                        "{}: a metric named by a literal; declare it in a metrics.rs",
                        file.display()
                    );
                    let constant: String = argument
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    used.insert(constant);
                }
            }
        }
        let constants: HashSet<String> = [
            include_str!("metrics.rs"),
            include_str!("../actors/src/metrics.rs"),
        ]
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|line| {
            let line = line.trim_start();
            ["Counter ", "Gauge ", "Histogram "]
                .iter()
                .find_map(|kind| line.strip_prefix(kind))
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
        })
        .collect();
        for constant in &constants {
            assert!(
                used.contains(constant),
                "{constant} is declared but never recorded"
            );
        }
    }
}
