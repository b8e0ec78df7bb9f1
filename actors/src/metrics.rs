//! The metric names the actors record, each declared once with what it measures; `describe`
//! gives Prometheus their help texts. Recording sites use these constants, never a literal
//! (a test over the sources checks it).

/// What kind of metric a name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One declared metric: its kind, its name and what it measures.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub kind: Kind,
    pub name: &'static str,
    pub help: &'static str,
}

/// Declares each metric's constant and its entry in a table, from one line per metric.
#[macro_export]
macro_rules! declare_metrics {
    ($table:ident { $($kind:ident $constant:ident = $name:literal : $help:literal;)* }) => {
        $(
            #[doc = $help]
            pub const $constant: &str = $name;
        )*
        /// Every metric declared here.
        pub const $table: &[$crate::metrics::Metric] = &[
            $($crate::metrics::Metric {
                kind: $crate::metrics::Kind::$kind,
                name: $name,
                help: $help,
            },)*
        ];
    };
}

declare_metrics!(ACTOR_METRICS {
    Counter ACTOR_FAILURES = "boothhub_actor_failures_total":
        "Actors that failed and were restarted from the store.";
    Gauge SESSION_ACTORS = "boothhub_session_actors":
        "Session actors alive (one per live booking).";
    Gauge BOOTHS_ONLINE = "boothhub_booths_online":
        "Booths with at least one open WebSocket.";
    Counter BOOKINGS_CREATED = "boothhub_bookings_created_total":
        "Bookings created (customer or walk-in).";
    Counter SESSION_REQUESTS_ABANDONED = "boothhub_session_requests_abandoned_total":
        "Requests a session actor dropped unapplied because their caller had given up.";
    Counter SCANS_THROTTLED = "boothhub_scans_throttled_total":
        "QR scans refused by a booth's scan rate limit.";
    Counter EVENTS_PUBLISHED = "boothhub_events_published_total":
        "Committed events handed to the stream router (one per stream).";
    Counter EVENTS_DELIVERED = "boothhub_events_delivered_total":
        "Events queued for a client's socket.";
    Counter EVENTS_REDELIVERED = "boothhub_events_redelivered_total":
        "Booth events sent again because the booth did not ack them.";
    Counter EVENTS_UNACKED_OVERFLOW = "boothhub_events_unacked_overflow_total":
        "Booth events dead-lettered because a booth held more unacked events than allowed.";
    Counter EVENTS_DEAD_LETTERED = "boothhub_events_dead_lettered_total":
        "Booth events given up on after their last delivery (DELIVERY_FAILED).";
    Histogram WS_QUEUE_DEPTH = "boothhub_ws_queue_depth":
        "Messages waiting in a client's outbound queue when one more is queued.";
    Counter WS_CLOSED_SLOW = "boothhub_ws_closed_slow_total":
        "WebSockets closed with 4008 for not keeping up.";
    Counter WS_GAPS_FILLED = "boothhub_ws_gaps_filled_total":
        "Reads of the event log to fill a gap in a client's stream.";
    Counter WS_GAPS_SKIPPED = "boothhub_ws_gaps_skipped_total":
        "Gaps given up on (seqs a crashed writer took and never wrote).";
    Counter WS_STREAMS_REFUSED = "boothhub_ws_streams_refused_total":
        "Subscriptions refused beyond a connection's stream cap.";
    Histogram STORE_GROUP_COMMIT_SIZE = "boothhub_store_group_commit_size":
        "Changes committed together in one embedded-store transaction.";
    Counter STORE_SEQ_CONFLICTS = "boothhub_store_seq_conflicts_total":
        "Compare-and-sets on a stream head (CQL store) that lost to another node's.";
    Counter STORE_SEQ_TIMEOUTS = "boothhub_store_seq_timeouts_total":
        "Commits (CQL store) that could not take their seqs in time and answered 503.";
    Counter SESSION_CONFLICTS = "boothhub_session_conflicts_total":
        "Booking changes refused because another node changed the booking first (then read again and retried once).";
    Gauge CLUSTER_TIMEKEEPER = "boothhub_cluster_timekeeper":
        "1 while this node is the cluster's timekeeper (it marks dead nodes' booths offline and places the changes they left behind), else 0.";
    Counter CLUSTER_TAKEOVERS = "boothhub_cluster_takeovers_total":
        "What this node took over (label what: lease of a shard another node held, timekeeping, booth marked offline for a dead node, booking change placed for a dead node).";
    Gauge CLUSTER_LEASES_HELD = "boothhub_cluster_leases_held":
        "Shard leases this node holds (it acts for the bookings of those shards).";
    Gauge CLUSTER_NODES = "boothhub_cluster_nodes":
        "Live nodes of the cluster, as this node last read the membership.";
    Counter CLUSTER_EVENTS_FANNED_IN = "boothhub_cluster_events_fanned_in_total":
        "Events committed by another node and pushed to this node's listeners.";
    Histogram CLUSTER_PUSH_LATENCY = "boothhub_cluster_push_latency_seconds":
        "From an event's commit on another node to its hand-over to this node's listeners.";
    Counter CLUSTER_FANOUT_HOLES_SKIPPED = "boothhub_cluster_fanout_holes_skipped_total":
        "Places in the fan-out log given up on (a writer that died between its seqs and its batch).";
    Counter STORE_WRITER_PANICS = "boothhub_store_writer_panics_total":
        "Embedded-store writes that panicked (a bug); their callers were told they failed.";
});

/// Gives the recorder the help text of every metric in `table`.
pub fn describe(table: &[Metric]) {
    for metric in table {
        match metric.kind {
            Kind::Counter => metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_prometheus_names_of_the_hub() {
        let mut seen = HashSet::new();
        for metric in ACTOR_METRICS {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(metric.name.starts_with("boothhub_"), "{}", metric.name);
            assert!(
                metric
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                metric.name
            );
            let counts = metric.name.ends_with("_total");
            assert_eq!(counts, metric.kind == Kind::Counter, "{}", metric.name);
            assert!(metric.help.ends_with('.'), "{}", metric.name);
        }
    }
}
