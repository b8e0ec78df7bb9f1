//! The version log of each booking (`booking_versions`, `schema/cql/006_booking_versions.cql`):
//! the compare-and-set that decides a booking change on the version it was decided from (the
//! fencing of contract §8), and what a decided change still has to write.

use scylla::value::CqlValue;

use super::cql::{self, Cql, bigint, text};
use crate::domain::ids::BookingId;
use crate::store::StoreError;

type Statement = (&'static str, Vec<CqlValue>);

/// A change of a booking, decided on version `base` (it becomes `base + 1`); its seqs are
/// taken after the decision and recorded beside it (`record_seqs`).
pub struct Decision<'a> {
    pub booking: BookingId,
    pub base: u64,
    /// The lease token the change is made under, when a node of a cluster makes it: the
    /// decision is refused unless it is the booking's fence ([`raise_fence`]).
    pub fence: Option<i64>,
    /// The booking as the change leaves it (JSON).
    pub doc: &'a str,
    /// What placing the change writes (JSON).
    pub decided: &'a str,
    /// The timestamp (µs) of its writes: later than any earlier version's.
    pub micros: i64,
}

/// The latest decided version of a booking.
#[derive(Debug)]
pub struct Latest {
    pub version: u64,
    pub doc: String,
    pub decided: Option<String>,
    pub micros: i64,
    pub placed: bool,
}

/// The latest decided version of `booking`, if any change of it was decided since 006.
pub async fn latest(cql: &Cql, booking: BookingId) -> Result<Option<Latest>, StoreError> {
    let rows = cql
        .rows(
            "SELECT version, doc, decided, decided_at, placed FROM {ks}.booking_versions WHERE booking_id = ? LIMIT 1",
            vec![text(booking.to_string())],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let (Some(version), Some(doc)) = (cql::col_bigint(row, 0), cql::col_text(row, 1)) else {
        return Ok(None);
    };
    Ok(Some(Latest {
        version: u64::try_from(version).unwrap_or(0),
        doc,
        decided: cql::col_text(row, 2),
        micros: cql::col_bigint(row, 3).unwrap_or(0),
        placed: matches!(row.columns.get(4), Some(Some(CqlValue::Boolean(true)))),
    }))
}

/// Decides a change: moves the head from `base` to `base + 1` and stores the change with
/// it, in one compare-and-set on the booking's partition. `false`: another change was decided
/// on `base` first (the booking must be read again).
pub async fn decide(cql: &Cql, decision: &Decision<'_>) -> Result<bool, StoreError> {
    let id = decision.booking.to_string();
    let next = i64::try_from(decision.base + 1).unwrap_or(i64::MAX);
    let row = (
        // `placed` stays unset (not placed): the placement's `true`, written with the change's
        // own timestamp, must not meet an older `false` written with the Paxos ballot's.
        "INSERT INTO {ks}.booking_versions (booking_id, version, doc, decided, decided_at) VALUES (?, ?, ?, ?, ?)",
        vec![
            text(&id),
            bigint(next),
            text(decision.doc),
            text(decision.decided),
            bigint(decision.micros),
        ],
    );
    let head = match (decision.base, decision.fence) {
        (0, None) => (
            "UPDATE {ks}.booking_versions SET head = ? WHERE booking_id = ? IF head = null",
            vec![bigint(next), text(&id)],
        ),
        (_, None) => (
            "UPDATE {ks}.booking_versions SET head = ? WHERE booking_id = ? IF head = ?",
            vec![bigint(next), text(&id), bigint(next - 1)],
        ),
        (0, Some(fence)) => (
            "UPDATE {ks}.booking_versions SET head = ? WHERE booking_id = ? IF head = null AND fence = ?",
            vec![bigint(next), text(&id), bigint(fence)],
        ),
        (_, Some(fence)) => (
            "UPDATE {ks}.booking_versions SET head = ? WHERE booking_id = ? IF head = ? AND fence = ?",
            vec![bigint(next), text(&id), bigint(next - 1), bigint(fence)],
        ),
    };
    cql.conditional_batch(vec![head, row]).await
}

/// How many times [`raise_fence`] reads and sets again when other nodes raise at once.
const RAISE_TRIES: usize = 5;

/// Makes `fence` the booking's fence unless a newer one is there (compare-and-set from the
/// fence last read under Paxos; the first try guesses none was ever raised, the common case
/// of a booking its first holder starts, and saves a read): from then on only changes made
/// under `fence` are decided. Answers whether another token was there before.
/// [`StoreError::Conflict`]: a node with a newer lease raised its token first.
pub async fn raise_fence(cql: &Cql, booking: BookingId, fence: i64) -> Result<bool, StoreError> {
    let id = booking.to_string();
    let mut current: Option<i64> = None;
    for _ in 0..RAISE_TRIES {
        let raised = match current {
            Some(current) if current > fence => return Err(StoreError::Conflict),
            // Raised by this lease already (an actor started again).
            Some(current) if current == fence => return Ok(false),
            Some(current) => {
                cql.lwt(
                    "UPDATE {ks}.booking_versions SET fence = ? WHERE booking_id = ? IF fence = ?",
                    vec![bigint(fence), text(&id), bigint(current)],
                )
                .await?
            }
            None => {
                cql.lwt(
                    "UPDATE {ks}.booking_versions SET fence = ? WHERE booking_id = ? IF fence = null",
                    vec![bigint(fence), text(&id)],
                )
                .await?
            }
        };
        if raised {
            return Ok(current.is_some());
        }
        let rows = cql
            .serial_rows(
                "SELECT fence FROM {ks}.booking_versions WHERE booking_id = ? LIMIT 1",
                vec![text(&id)],
            )
            .await?;
        current = rows.first().and_then(|row| cql::col_bigint(row, 0));
    }
    Err(StoreError::Unavailable(
        "the booking's fence kept changing".into(),
    ))
}

/// Starts a new booking's version log at 1 (compare-and-set: the head is only ever written so).
/// `false`: the booking has a log already.
pub async fn begin(cql: &Cql, booking: BookingId) -> Result<bool, StoreError> {
    cql.lwt(
        "UPDATE {ks}.booking_versions SET head = 1 WHERE booking_id = ? IF head = null",
        vec![text(booking.to_string())],
    )
    .await
}

/// The row of a booking's first version, in the batch that creates it (after [`begin`]).
pub fn created(booking: BookingId, doc: &str, micros: i64) -> Statement {
    (
        "INSERT INTO {ks}.booking_versions (booking_id, version, doc, decided_at, placed) VALUES (?, 1, ?, ?, true)",
        vec![text(booking.to_string()), text(doc), bigint(micros)],
    )
}

/// The seqs recorded for a decided change (JSON), if any yet.
pub async fn recorded_seqs(
    cql: &Cql,
    booking: BookingId,
    version: u64,
) -> Result<Option<String>, StoreError> {
    let rows = cql
        .serial_rows(
            "SELECT seqs FROM {ks}.booking_versions WHERE booking_id = ? AND version = ?",
            vec![
                text(booking.to_string()),
                bigint(i64::try_from(version).unwrap_or(i64::MAX)),
            ],
        )
        .await?;
    Ok(rows.first().and_then(|r| cql::col_text(r, 0)))
}

/// Records the seqs a decided change's events were given, unless some were recorded first.
pub async fn record_seqs(
    cql: &Cql,
    booking: BookingId,
    version: u64,
    seqs: &str,
) -> Result<bool, StoreError> {
    cql.lwt(
        "UPDATE {ks}.booking_versions SET seqs = ? WHERE booking_id = ? AND version = ? IF seqs = null",
        vec![
            text(seqs),
            text(booking.to_string()),
            bigint(i64::try_from(version).unwrap_or(i64::MAX)),
        ],
    )
    .await
}

/// Marks `version` placed, in the batch that places it.
pub fn placed(booking: BookingId, version: u64) -> Statement {
    (
        "UPDATE {ks}.booking_versions SET placed = true WHERE booking_id = ? AND version = ?",
        vec![
            text(booking.to_string()),
            bigint(i64::try_from(version).unwrap_or(i64::MAX)),
        ],
    )
}

/// Notes that a change of `booking` is about to be decided at `version` (before the decision).
pub async fn intend(
    cql: &Cql,
    booking: BookingId,
    version: u64,
    micros: i64,
) -> Result<(), StoreError> {
    cql.exec(
        "INSERT INTO {ks}.unplaced (shard, booking_id, version, at) VALUES (0, ?, ?, ?)",
        vec![
            text(booking.to_string()),
            bigint(i64::try_from(version).unwrap_or(i64::MAX)),
            bigint(micros),
        ],
    )
    .await
}

/// Forgets the intention of a change (placed, or never decided).
pub fn forget(booking: BookingId, version: u64) -> Statement {
    (
        "DELETE FROM {ks}.unplaced WHERE shard = 0 AND booking_id = ? AND version = ?",
        vec![
            text(booking.to_string()),
            bigint(i64::try_from(version).unwrap_or(i64::MAX)),
        ],
    )
}

/// Changes intended before `before` (µs) and not placed yet: (booking, version).
pub async fn intended_before(cql: &Cql, before: i64) -> Result<Vec<(BookingId, u64)>, StoreError> {
    let rows = cql
        .rows(
            "SELECT booking_id, version, at FROM {ks}.unplaced WHERE shard = 0",
            vec![],
        )
        .await?;
    Ok(rows
        .iter()
        .filter(|row| cql::col_bigint(row, 2).is_some_and(|at| at < before))
        .filter_map(|row| {
            let booking = cql::col_text(row, 0)?.parse().ok()?;
            let version = u64::try_from(cql::col_bigint(row, 1)?).ok()?;
            Some((booking, version))
        })
        .collect())
}
