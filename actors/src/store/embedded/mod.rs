//! The default backend: SQLite in WAL mode with `synchronous = FULL`, so a commit is on disk
//! before it returns and survives `kill -9` and power loss. One writer task owns the only
//! read-write connection and serialises writes (which makes per-stream seqs gapless and slot
//! checks atomic), committing changes that queue up together; a few reader connections serve
//! reads beside it on Tokio's blocking pool.

mod readers;
mod writer;

use std::path::{Path, PathBuf};
#[cfg(test)]
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::readers::Readers;
use self::writer::Writer;
use super::{
    AuditFilter, BookingFilter, BookingWrite, Change, DeadLetterFilter, Page, PageRequest,
    PaymentFilter, Presence, Store, StoreError,
};
use crate::domain::booking::{Booking, SlotClaim};
use crate::domain::config::SystemConfig;
use crate::domain::event::{StoredEvent, Stream};
use crate::domain::ids::{BookingId, BoothId, OutletId, PaymentId, UserId};
use crate::domain::payment::Payment;
use crate::domain::records::{AuditEntry, AuditKind, Booth, DeadLetter, Outlet, Role, User};

/// The schema files, in order; `PRAGMA user_version` says how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../../schema/embedded/001_init.sql"),
    include_str!("../../../../schema/embedded/002_websocket_hub.sql"),
    include_str!("../../../../schema/embedded/003_booking_events.sql"),
    include_str!("../../../../schema/embedded/004_offboarding.sql"),
    include_str!("../../../../schema/embedded/005_payment_ids.sql"),
];
/// The schema version that finds payments by id: the payments before it are indexed then.
const PAYMENT_IDS_VERSION: usize = 5;
const READERS: usize = 4;

#[derive(Debug)]
pub struct EmbeddedStore {
    path: PathBuf,
    writer: Writer,
    readers: Readers,
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(err: serde_json::Error) -> Self {
        StoreError::Corrupt(err.to_string())
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_json<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(doc)?)
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn open(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

impl EmbeddedStore {
    /// Opens (creating when absent) the store in `dir`, applying the schema. Refuses a store
    /// written by a newer Booth Hub.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("boothhub.sqlite3");
        private_files(dir, &path).map_err(|e| {
            StoreError::Unavailable(format!("cannot prepare {}: {e}", dir.display()))
        })?;
        let mut writer = open(&path, OpenFlags::default())?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| open(&path, OpenFlags::SQLITE_OPEN_READ_ONLY))
            .collect::<Result<Vec<_>, _>>()?;
        let writer = Writer::start(writer, commit_change)?;
        Ok(EmbeddedStore {
            path,
            writer,
            readers: Readers::new(readers),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.write(work).await
    }

    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.readers.read(work).await
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Unavailable(format!(
            "the store has schema version {version}, newer than this Booth Hub knows ({known}); \
             run a newer boothhub"
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        if index + 1 == PAYMENT_IDS_VERSION {
            index_payment_ids(&tx)?;
        }
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// Gives every stored payment its row in `payment_ids`.
fn index_payment_ids(tx: &Connection) -> Result<(), StoreError> {
    let event_ids: Vec<String> = {
        let mut stmt = tx.prepare("SELECT event_id FROM payments")?;
        let rows = stmt.query_map([], |row| row.get(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for event_id in event_ids {
        tx.execute(
            "INSERT OR IGNORE INTO payment_ids (id, event_id) VALUES (?1, ?2)",
            params![PaymentId::of_event(&event_id).to_string(), event_id],
        )?;
    }
    Ok(())
}

/// The smallest UUID v7 (as text) of the millisecond `plus_ms` after `at`: ids made at or
/// after that millisecond compare greater or equal.
fn v7_floor(at: DateTime<Utc>, plus_ms: i64) -> String {
    let ms = (at.timestamp_millis() + plus_ms).max(0);
    let hex = format!("{ms:012x}");
    format!("{}-{}-7000-8000-000000000000", &hex[..8], &hex[8..12])
}

fn encode_cursor(parts: &[String]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("|"))
}

fn decode_cursor(cursor: &str, count: usize) -> Result<Vec<String>, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StoreError::BadCursor)?;
    let parts: Vec<String> = text.split('|').map(str::to_owned).collect();
    if parts.len() == count {
        Ok(parts)
    } else {
        Err(StoreError::BadCursor)
    }
}

/// The (time in ms, id) a newest-first listing continues before; the start when no cursor.
fn time_cursor(cursor: Option<&str>) -> Result<(i64, String), StoreError> {
    let Some(cursor) = cursor else {
        return Ok((i64::MAX, String::new()));
    };
    let parts = decode_cursor(cursor, 2)?;
    let time = parts[0].parse::<i64>().map_err(|_| StoreError::BadCursor)?;
    Ok((time, parts[1].clone()))
}

/// Turns up to `limit + 1` rows into a page whose cursor points after the last item.
fn page_of<T>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Vec<String>) -> Page<T> {
    let limit = limit as usize;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_cursor = if more {
        items.last().map(|last| encode_cursor(&cursor_of(last)))
    } else {
        None
    };
    Page { items, next_cursor }
}

fn query_docs<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let docs = stmt.query_map(params, |row| row.get::<_, String>(0))?;
    docs.map(|doc| from_json(&doc?)).collect()
}

/// The one document a keyed query finds, if any.
fn doc_by<T: DeserializeOwned>(
    conn: &Connection,
    sql: &str,
    key: String,
) -> Result<Option<T>, StoreError> {
    let doc: Option<String> = conn
        .prepare_cached(sql)?
        .query_row([key], |row| row.get(0))
        .optional()?;
    doc.map(|doc| from_json(&doc)).transpose()
}

/// The store's directory is 0700 and its database 0600 (contract §2): the file is made
/// before SQLite opens it, and SQLite gives its `-wal` and `-shm` files the database's mode.
#[cfg(unix)]
fn private_files(dir: &Path, db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)?;
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        if file.exists() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_files(dir: &Path, _db: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

fn check_slot(tx: &Connection, claim: &SlotClaim) -> Result<(), StoreError> {
    let earliest = millis(claim.slot.start - claim.duration);
    let latest = millis(claim.slot.end);
    let taken: i64 = match claim.booth_id {
        Some(booth) => tx.query_row(
            "SELECT COUNT(*) FROM bookings WHERE live = 1 AND booth_id = ?1 \
             AND booking_time > ?2 AND booking_time < ?3",
            params![booth.to_string(), earliest, latest],
            |row| row.get(0),
        )?,
        None => tx.query_row(
            "SELECT COUNT(*) FROM bookings WHERE live = 1 AND outlet_id = ?1 \
             AND booking_time > ?2 AND booking_time < ?3",
            params![claim.outlet_id.to_string(), earliest, latest],
            |row| row.get(0),
        )?,
    };
    if (taken as u64) < claim.capacity {
        Ok(())
    } else {
        Err(StoreError::SlotTaken)
    }
}

fn upsert_booking(tx: &Connection, booking: &Booking) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO bookings (id, outlet_id, booth_id, status, booking_time, live, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (id) DO UPDATE SET outlet_id = ?2, booth_id = ?3, status = ?4, \
         booking_time = ?5, live = ?6, doc = ?7",
        params![
            booking.id.to_string(),
            booking.outlet_id.to_string(),
            booking.booth_id.map(|b| b.to_string()),
            booking.status.as_str(),
            millis(booking.booking_time),
            booking.status.is_live(),
            to_json(booking)?,
        ],
    )?;
    Ok(())
}

fn commit_change(tx: &Connection, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
    match &change.booking {
        Some(BookingWrite::Create(booking, claim)) => {
            check_slot(tx, claim)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM bookings WHERE id = ?1)",
                [booking.id.to_string()],
                |row| row.get(0),
            )?;
            if exists {
                return Err(StoreError::Duplicate("booking"));
            }
            upsert_booking(tx, booking)?;
        }
        Some(BookingWrite::Update(booking)) => upsert_booking(tx, booking)?,
        Some(BookingWrite::Reclaim(booking, claim)) => {
            // The booking is not live in the table yet, so it does not count against itself.
            check_slot(tx, claim)?;
            upsert_booking(tx, booking)?;
        }
        None => {}
    }
    if let Some(payment) = &change.payment {
        let inserted = tx.execute(
            "INSERT INTO payments (event_id, booking_id, outlet_id, refund_required, received_at, doc) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (event_id) DO NOTHING",
            params![
                payment.event_id,
                payment.booking_id.to_string(),
                payment.outlet_id.map(|o| o.to_string()),
                payment.refund_required,
                millis(payment.received_at),
                to_json(payment)?,
            ],
        )?;
        if inserted == 0 {
            return Err(StoreError::Duplicate("payment event id"));
        }
        tx.execute(
            "INSERT INTO payment_ids (id, event_id) VALUES (?1, ?2)",
            params![payment.id().to_string(), payment.event_id],
        )?;
    }
    if let Some(payment) = &change.refund {
        // Only a payment not yet refunded is marked (a second refund changes nothing).
        let updated = tx.execute(
            "UPDATE payments SET refund_required = ?2, doc = ?3 WHERE event_id = ?1 \
             AND json_extract(doc, '$.refunded_at') IS NULL",
            params![payment.event_id, payment.refund_required, to_json(payment)?],
        )?;
        if updated == 0 {
            return Err(StoreError::NotFound("payment"));
        }
    }
    insert_audit(tx, change.audit.as_ref())?;
    if let Some(presence) = &change.presence {
        record_presence(tx, presence)?;
    }
    if let Some(letter) = &change.dead_letter {
        tx.execute(
            "INSERT INTO dead_letters (id, outlet_id, booth_id, doc) VALUES (?1, ?2, ?3, ?4)",
            params![
                letter.id.to_string(),
                letter.outlet_id.to_string(),
                letter.booth_id.to_string(),
                to_json(letter)?,
            ],
        )?;
    }
    if let Some(config) = &change.config {
        tx.execute(
            "INSERT INTO system_config (id, doc) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET doc = ?1",
            [to_json(config)?],
        )?;
    }
    let mut stored = Vec::with_capacity(change.events.len() * 3);
    let mut next_seq = tx.prepare_cached(
        "INSERT INTO streams (stream, seq) VALUES (?1, 1) \
         ON CONFLICT (stream) DO UPDATE SET seq = seq + 1 RETURNING seq",
    )?;
    let mut append =
        tx.prepare_cached("INSERT INTO events (stream, seq, doc) VALUES (?1, ?2, ?3)")?;
    let mut index =
        tx.prepare_cached("INSERT INTO booking_events (booking_id, seq) VALUES (?1, ?2)")?;
    for event in change.events {
        for stream in event.streams() {
            let name = stream.to_string();
            let seq: i64 = next_seq.query_row([&name], |row| row.get(0))?;
            let placed = StoredEvent {
                stream,
                seq: seq as u64,
                event: event.clone(),
            };
            append.execute(params![name, seq, to_json(&placed.event)?])?;
            if let (Stream::All, Some(booking)) = (stream, event.booking_id) {
                index.execute(params![booking.to_string(), seq])?;
            }
            stored.push(placed);
        }
    }
    Ok(stored)
}

/// Keeps an audit entry in the transaction of the change it records.
fn insert_audit(tx: &Connection, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
    if let Some(audit) = audit {
        tx.execute(
            "INSERT INTO audit (id, outlet_id, booking_id, doc) VALUES (?1, ?2, ?3, ?4)",
            params![
                audit.id.to_string(),
                audit.outlet_id.map(|o| o.to_string()),
                audit.booking_id.map(|b| b.to_string()),
                to_json(audit)?,
            ],
        )?;
    }
    Ok(())
}

fn record_presence(tx: &Connection, presence: &Presence) -> Result<(), StoreError> {
    let id = presence.booth_id.to_string();
    let Some(mut booth) = doc_by::<Booth>(tx, "SELECT doc FROM booths WHERE id = ?1", id.clone())?
    else {
        return Err(StoreError::NotFound("booth"));
    };
    booth.online = presence.online;
    booth.last_seen_at = Some(presence.at);
    tx.execute(
        "UPDATE booths SET online = ?2, doc = ?3 WHERE id = ?1",
        params![id, presence.online, to_json(&booth)?],
    )?;
    Ok(())
}

/// Newest first by time-ordered id (UUID v7), with two optional equality filters.
fn list_newest<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    filters: [(&str, Option<String>); 2],
    page: &PageRequest,
    id_of: impl Fn(&T) -> String,
) -> Result<Page<T>, StoreError> {
    let before = match &page.cursor {
        Some(cursor) => decode_cursor(cursor, 1)?.remove(0),
        None => "~".to_owned(),
    };
    let [(first, first_value), (second, second_value)] = filters;
    let sql = format!(
        "SELECT doc FROM {table} WHERE (?1 IS NULL OR {first} = ?1) \
         AND (?2 IS NULL OR {second} = ?2) AND id < ?3 ORDER BY id DESC LIMIT ?4"
    );
    let limit = i64::from(page.limit) + 1;
    let items = query_docs(
        conn,
        &sql,
        params![first_value, second_value, before, limit],
    )?;
    Ok(page_of(items, page.limit, |item| vec![id_of(item)]))
}

fn list_by_id<T: DeserializeOwned>(
    conn: &Connection,
    table: &str,
    filter: Option<(&str, String)>,
    page: &PageRequest,
    id_of: impl Fn(&T) -> String,
) -> Result<Page<T>, StoreError> {
    let after = match &page.cursor {
        Some(cursor) => decode_cursor(cursor, 1)?.remove(0),
        None => String::new(),
    };
    let limit = i64::from(page.limit) + 1;
    let items = match filter {
        Some((column, value)) => {
            let sql = format!(
                "SELECT doc FROM {table} WHERE {column} = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
            );
            query_docs(conn, &sql, params![value, after, limit])?
        }
        None => {
            let sql = format!("SELECT doc FROM {table} WHERE id > ?1 ORDER BY id LIMIT ?2");
            query_docs(conn, &sql, params![after, limit])?
        }
    };
    Ok(page_of(items, page.limit, |item| vec![id_of(item)]))
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await?;
        Ok(())
    }

    /// Group commit: the change goes to the writer thread, which commits everything that
    /// queued meanwhile in one transaction, each change in its own savepoint (a refused one
    /// is rolled back alone), and answers every change after the one `fsync`. Under
    /// concurrency (a reconnect storm's presence changes, webhooks at once) many changes share
    /// an `fsync`; alone, a change costs what it did.
    async fn commit(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
        self.writer.commit(change).await
    }

    async fn raise_fence(&self, _booking: BookingId, _fence: i64) -> Result<bool, StoreError> {
        // One process writes this store (see the trait): no other holder to fence.
        Ok(false)
    }

    async fn booking(&self, id: BookingId) -> Result<Option<Booking>, StoreError> {
        self.read(move |conn| {
            doc_by(
                conn,
                "SELECT doc FROM bookings WHERE id = ?1",
                id.to_string(),
            )
        })
        .await
    }

    async fn list_bookings(
        &self,
        filter: &BookingFilter,
        page: &PageRequest,
    ) -> Result<Page<Booking>, StoreError> {
        let filter = filter.clone();
        let page = page.clone();
        self.read(move |conn| {
            let (before_time, before_id) = time_cursor(page.cursor.as_deref())?;
            let sql = "SELECT doc FROM bookings \
                WHERE (?1 IS NULL OR outlet_id = ?1) AND (?2 IS NULL OR status = ?2) \
                AND (?3 IS NULL OR booking_time >= ?3) AND (?4 IS NULL OR booking_time <= ?4) \
                AND (booking_time < ?5 OR (booking_time = ?5 AND (?6 = '' OR id < ?6))) \
                ORDER BY booking_time DESC, id DESC LIMIT ?7";
            let items: Vec<Booking> = query_docs(
                conn,
                sql,
                params![
                    filter.outlet_id.map(|o| o.to_string()),
                    filter.status.map(|s| s.as_str()),
                    filter.from.map(millis),
                    filter.to.map(millis),
                    before_time,
                    before_id,
                    i64::from(page.limit) + 1,
                ],
            )?;
            Ok(page_of(items, page.limit, |b: &Booking| {
                vec![millis(b.booking_time).to_string(), b.id.to_string()]
            }))
        })
        .await
    }

    async fn live_bookings(&self) -> Result<Vec<Booking>, StoreError> {
        self.read(|conn| query_docs(conn, "SELECT doc FROM bookings WHERE live = 1", []))
            .await
    }

    async fn payment(&self, event_id: &str) -> Result<Option<Payment>, StoreError> {
        let event_id = event_id.to_owned();
        self.read(move |conn| {
            doc_by(
                conn,
                "SELECT doc FROM payments WHERE event_id = ?1",
                event_id,
            )
        })
        .await
    }

    async fn payment_by_id(&self, id: PaymentId) -> Result<Option<Payment>, StoreError> {
        self.read(move |conn| {
            doc_by(
                conn,
                "SELECT p.doc FROM payment_ids i JOIN payments p ON p.event_id = i.event_id \
                 WHERE i.id = ?1",
                id.to_string(),
            )
        })
        .await
    }

    async fn list_payments(
        &self,
        filter: &PaymentFilter,
        page: &PageRequest,
    ) -> Result<Page<Payment>, StoreError> {
        let filter = filter.clone();
        let page = page.clone();
        self.read(move |conn| {
            let (before_time, before_id) = time_cursor(page.cursor.as_deref())?;
            let sql = "SELECT doc FROM payments \
                WHERE (?1 IS NULL OR outlet_id = ?1) AND (?2 IS NULL OR refund_required = ?2) \
                AND (?6 IS NULL OR booking_id = ?6) \
                AND (received_at < ?3 OR (received_at = ?3 AND (?4 = '' OR event_id < ?4))) \
                ORDER BY received_at DESC, event_id DESC LIMIT ?5";
            let items: Vec<Payment> = query_docs(
                conn,
                sql,
                params![
                    filter.outlet_id.map(|o| o.to_string()),
                    filter.refund_required,
                    before_time,
                    before_id,
                    i64::from(page.limit) + 1,
                    filter.booking_id.map(|b| b.to_string()),
                ],
            )?;
            Ok(page_of(items, page.limit, |p: &Payment| {
                vec![millis(p.received_at).to_string(), p.event_id.clone()]
            }))
        })
        .await
    }

    async fn booking_events(&self, booking: BookingId) -> Result<Vec<StoredEvent>, StoreError> {
        let booking = booking.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT e.seq, e.doc FROM booking_events b \
                 JOIN events e ON e.stream = 'all' AND e.seq = b.seq \
                 WHERE b.booking_id = ?1 ORDER BY b.seq",
            )?;
            let rows = stmt.query_map([booking], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (seq, doc) = row?;
                Ok(StoredEvent {
                    stream: Stream::All,
                    seq: seq as u64,
                    event: from_json(&doc)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn events_after(
        &self,
        stream: Stream,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let name = stream.to_string();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, doc FROM events WHERE stream = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![name, after as i64, i64::from(limit)], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (seq, doc) = row?;
                Ok(StoredEvent {
                    stream,
                    seq: seq as u64,
                    event: from_json(&doc)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn stream_head(&self, stream: Stream) -> Result<u64, StoreError> {
        let name = stream.to_string();
        self.read(move |conn| {
            let seq: Option<i64> = conn
                .prepare_cached("SELECT seq FROM streams WHERE stream = ?1")?
                .query_row([name], |row| row.get(0))
                .optional()?;
            Ok(seq.unwrap_or(0) as u64)
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        filter: &DeadLetterFilter,
        page: &PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError> {
        let filters = [
            ("outlet_id", filter.outlet_id.map(|o| o.to_string())),
            ("booth_id", filter.booth_id.map(|id| id.to_string())),
        ];
        let page = page.clone();
        self.read(move |conn| {
            list_newest(conn, "dead_letters", filters, &page, |x: &DeadLetter| {
                x.id.to_string()
            })
        })
        .await
    }

    async fn system_config(&self) -> Result<Option<SystemConfig>, StoreError> {
        self.read(|conn| {
            let doc: Option<String> = conn
                .query_row("SELECT doc FROM system_config WHERE id = 1", [], |row| {
                    row.get(0)
                })
                .optional()?;
            doc.map(|doc| from_json(&doc)).transpose()
        })
        .await
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let filter = filter.clone();
        let page = page.clone();
        self.read(move |conn| {
            let before = match &page.cursor {
                Some(cursor) => decode_cursor(cursor, 1)?.remove(0),
                None => "~".to_owned(),
            };
            // Ids are UUID v7: ordered by the time they were made, which is the entry's time.
            let from = filter.from.map(|at| v7_floor(at, 0));
            let to = filter.to.map(|at| v7_floor(at, 1));
            let sql = "SELECT doc FROM audit \
                WHERE (?1 IS NULL OR outlet_id = ?1) AND (?2 IS NULL OR booking_id = ?2) \
                AND (?3 IS NULL OR json_extract(doc, '$.kind') = ?3) \
                AND (?4 IS NULL OR json_extract(doc, '$.actor_id') = ?4) \
                AND (?5 IS NULL OR id >= ?5) AND (?6 IS NULL OR id < ?6) \
                AND id < ?7 ORDER BY id DESC LIMIT ?8";
            let items: Vec<AuditEntry> = query_docs(
                conn,
                sql,
                params![
                    filter.outlet_id.map(|o| o.to_string()),
                    filter.booking_id.map(|b| b.to_string()),
                    filter.action.map(AuditKind::as_str),
                    filter.actor_id.map(|u| u.to_string()),
                    from,
                    to,
                    before,
                    i64::from(page.limit) + 1,
                ],
            )?;
            Ok(page_of(items, page.limit, |x: &AuditEntry| {
                vec![x.id.to_string()]
            }))
        })
        .await
    }

    async fn create_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let (id, doc, audit) = (outlet.id.to_string(), to_json(outlet)?, audit.cloned());
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO outlets (id, doc) VALUES (?1, ?2)",
                params![id, doc],
            )?;
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn update_outlet(
        &self,
        outlet: &Outlet,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let (id, doc, audit) = (outlet.id.to_string(), to_json(outlet)?, audit.cloned());
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE outlets SET doc = ?2 WHERE id = ?1",
                params![id, doc],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound("outlet"));
            }
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn outlet(&self, id: OutletId) -> Result<Option<Outlet>, StoreError> {
        self.read(move |conn| {
            doc_by(
                conn,
                "SELECT doc FROM outlets WHERE id = ?1",
                id.to_string(),
            )
        })
        .await
    }

    async fn list_outlets(
        &self,
        only: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Outlet>, StoreError> {
        let page = page.clone();
        self.read(move |conn| {
            let filter = only.map(|id| ("id", id.to_string()));
            list_by_id(conn, "outlets", filter, &page, |o: &Outlet| {
                o.id.to_string()
            })
        })
        .await
    }

    async fn outlet_ids(&self) -> Result<Vec<OutletId>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached("SELECT id FROM outlets")?;
            let ids = stmt.query_map([], |row| row.get::<_, String>(0))?;
            ids.map(|id| {
                id?.parse()
                    .map_err(|e: uuid::Error| StoreError::Corrupt(e.to_string()))
            })
            .collect()
        })
        .await
    }

    async fn create_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
        let audit = audit.cloned();
        let id = user.id.to_string();
        let email = user.email.to_lowercase();
        let role = user.role.as_str();
        let doc = to_json(user)?;
        self.write(move |tx| {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE email = ?1)",
                [&email],
                |row| row.get(0),
            )?;
            if taken {
                return Err(StoreError::EmailTaken);
            }
            tx.execute(
                "INSERT INTO users (id, email, role, doc) VALUES (?1, ?2, ?3, ?4)",
                params![id, email, role, doc],
            )?;
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read(move |conn| doc_by(conn, "SELECT doc FROM users WHERE id = ?1", id.to_string()))
            .await
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        let email = email.to_lowercase();
        self.read(move |conn| doc_by(conn, "SELECT doc FROM users WHERE email = ?1", email))
            .await
    }

    async fn list_users(&self, page: &PageRequest) -> Result<Page<User>, StoreError> {
        let page = page.clone();
        self.read(move |conn| list_by_id(conn, "users", None, &page, |u: &User| u.id.to_string()))
            .await
    }

    async fn update_user(&self, user: &User, audit: Option<&AuditEntry>) -> Result<(), StoreError> {
        let (id, role, doc) = (user.id.to_string(), user.role.as_str(), to_json(user)?);
        let audit = audit.cloned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE users SET role = ?2, doc = ?3 WHERE id = ?1",
                params![id, role, doc],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound("user"));
            }
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn has_super_admin(&self) -> Result<bool, StoreError> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM users \
                 WHERE role = ?1 AND COALESCE(json_extract(doc, '$.active'), 1) = 1)",
                [Role::SuperAdmin.as_str()],
                |row| row.get(0),
            )?)
        })
        .await
    }

    async fn create_booth(
        &self,
        booth: &Booth,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let id = booth.id.to_string();
        let outlet = booth.outlet_id.to_string();
        let token_hash = token_hash.to_owned();
        let doc = to_json(booth)?;
        let audit = audit.cloned();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO booths (id, outlet_id, token_hash, doc) VALUES (?1, ?2, ?3, ?4)",
                params![id, outlet, token_hash, doc],
            )?;
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn update_booth(
        &self,
        booth: &Booth,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let (booth, audit) = (booth.clone(), audit.cloned());
        self.write(move |tx| {
            let id = booth.id.to_string();
            let Some(current) =
                doc_by::<Booth>(tx, "SELECT doc FROM booths WHERE id = ?1", id.clone())?
            else {
                return Err(StoreError::NotFound("booth"));
            };
            // Presence is the presence writer's: keep what it recorded meanwhile.
            let booth = Booth {
                online: current.online,
                last_seen_at: current.last_seen_at,
                ..booth
            };
            tx.execute(
                "UPDATE booths SET doc = ?2 WHERE id = ?1",
                params![id, to_json(&booth)?],
            )?;
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn set_booth_token(
        &self,
        booth: BoothId,
        token_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let (id, token_hash) = (booth.to_string(), token_hash.to_owned());
        let audit = audit.cloned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE booths SET token_hash = ?2 WHERE id = ?1",
                params![id, token_hash],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound("booth"));
            }
            insert_audit(tx, audit.as_ref())
        })
        .await
    }

    async fn booth(&self, id: BoothId) -> Result<Option<Booth>, StoreError> {
        self.read(move |conn| doc_by(conn, "SELECT doc FROM booths WHERE id = ?1", id.to_string()))
            .await
    }

    async fn booth_by_token(&self, token_hash: &str) -> Result<Option<Booth>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            doc_by(
                conn,
                "SELECT doc FROM booths WHERE token_hash = ?1",
                token_hash,
            )
        })
        .await
    }

    async fn list_booths(
        &self,
        outlet: Option<OutletId>,
        page: &PageRequest,
    ) -> Result<Page<Booth>, StoreError> {
        let page = page.clone();
        self.read(move |conn| {
            let filter = outlet.map(|id| ("outlet_id", id.to_string()));
            list_by_id(conn, "booths", filter, &page, |b: &Booth| b.id.to_string())
        })
        .await
    }

    async fn count_booths(&self, outlet: OutletId) -> Result<u64, StoreError> {
        self.read(move |conn| {
            let count: i64 = conn.query_row(
                "SELECT COUNT(*) FROM booths \
                 WHERE outlet_id = ?1 AND COALESCE(json_extract(doc, '$.active'), 1) = 1",
                [outlet.to_string()],
                |row| row.get(0),
            )?;
            Ok(count as u64)
        })
        .await
    }

    async fn booths_online(&self) -> Result<Vec<Booth>, StoreError> {
        self.read(|conn| query_docs(conn, "SELECT doc FROM booths WHERE online = 1", []))
            .await
    }

    async fn put_login(
        &self,
        token_hash: &str,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM login_tokens WHERE expires_at < ?1",
                [millis(expires_at) - 366 * 24 * 3_600_000],
            )?;
            tx.execute(
                "INSERT INTO login_tokens (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![token_hash, user.to_string(), millis(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn login(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(UserId, DateTime<Utc>)>, StoreError> {
        let token_hash = token_hash.to_owned();
        self.read(move |conn| {
            let found: Option<(String, i64)> = conn
                .prepare_cached(
                    "SELECT user_id, expires_at FROM login_tokens \
                     WHERE token_hash = ?1 AND expires_at > ?2",
                )?
                .query_row(params![token_hash, millis(now)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            let Some((user, expires)) = found else {
                return Ok(None);
            };
            let user = user
                .parse()
                .map_err(|e: uuid::Error| StoreError::Corrupt(e.to_string()))?;
            let expires = DateTime::from_timestamp_millis(expires)
                .ok_or_else(|| StoreError::Corrupt(format!("expiry {expires}")))?;
            Ok(Some((user, expires)))
        })
        .await
    }

    async fn delete_logins_of(
        &self,
        user: UserId,
        except: Option<&str>,
    ) -> Result<Vec<String>, StoreError> {
        let (user, except) = (user.to_string(), except.unwrap_or_default().to_owned());
        self.write(move |tx| {
            let ended = {
                let mut stmt = tx.prepare_cached(
                    "DELETE FROM login_tokens WHERE user_id = ?1 AND token_hash != ?2 \
                     RETURNING token_hash",
                )?;
                let rows = stmt.query_map(params![user, except], |row| row.get(0))?;
                rows.collect::<Result<Vec<String>, _>>()?
            };
            Ok(ended)
        })
        .await
    }

    async fn delete_login(&self, token_hash: &str) -> Result<(), StoreError> {
        let token_hash = token_hash.to_owned();
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM login_tokens WHERE token_hash = ?1",
                [token_hash],
            )?;
            Ok(())
        })
        .await
    }

    async fn secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        let name = name.to_owned();
        let candidate = candidate.to_vec();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO secrets (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![name, candidate],
            )?;
            Ok(
                tx.query_row("SELECT value FROM secrets WHERE name = ?1", [name], |row| {
                    row.get(0)
                })?,
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A store written by the hub before offboarding and payment ids (schema version 3) keeps
    /// its users, logins and payments, which the new lookups then find.
    #[tokio::test]
    async fn a_store_of_schema_three_is_upgraded_with_its_records() {
        let dir = tempfile::tempdir().unwrap();
        let user = UserId::new();
        let booking = BookingId::new();
        {
            let mut conn = Connection::open(dir.path().join("boothhub.sqlite3")).unwrap();
            let tx = conn.transaction().unwrap();
            for sql in &MIGRATIONS[..3] {
                tx.execute_batch(sql).unwrap();
            }
            tx.pragma_update(None, "user_version", 3).unwrap();
            let old_user = serde_json::json!({
                "id": user, "name": "Old", "email": "old@x.id", "role": "admin",
                "outlet_id": null, "password_hash": "h"
            });
            tx.execute(
                "INSERT INTO users (id, email, role, doc) VALUES (?1, 'old@x.id', 'admin', ?2)",
                params![user.to_string(), old_user.to_string()],
            )
            .unwrap();
            tx.execute(
                "INSERT INTO login_tokens (token_hash, user_id, expires_at) VALUES ('old', ?1, ?2)",
                params![user.to_string(), i64::MAX],
            )
            .unwrap();
            let old_payment = serde_json::json!({
                "event_id": "evt-old", "booking_id": booking, "outlet_id": null,
                "status": "SUCCESS", "amount": 1, "currency": "IDR", "raw": "{}",
                "body_hash": "h", "outcome": { "outcome": "UNKNOWN_BOOKING" },
                "refund_required": true, "received_at": "2026-01-01T00:00:00Z"
            });
            tx.execute(
                "INSERT INTO payments (event_id, booking_id, outlet_id, refund_required, received_at, doc) \
                 VALUES ('evt-old', ?1, NULL, 1, 0, ?2)",
                params![booking.to_string(), old_payment.to_string()],
            )
            .unwrap();
            tx.commit().unwrap();
        }
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let read = store.user(user).await.unwrap().unwrap();
        assert!(
            read.active,
            "a user stored before deactivation existed is active"
        );
        let payment = store
            .payment_by_id(PaymentId::of_event("evt-old"))
            .await
            .unwrap()
            .expect("an old payment is found by its id");
        assert_eq!(
            (payment.event_id.as_str(), payment.refunded_at),
            ("evt-old", None)
        );
        assert_eq!(store.delete_logins_of(user, None).await.unwrap(), ["old"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_are_not_queued_behind_a_slow_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
        let writing = {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .write(|_tx| {
                        // A long fsync, on the writer's turn on the blocking pool.
                        #[expect(clippy::disallowed_methods, reason = "on the blocking pool")]
                        std::thread::sleep(Duration::from_secs(3));
                        Ok(())
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Every read is answered while the write still holds the writer: no read waits for it
        // (a read queued behind it would take the 3 s of the write).
        for _ in 0..20 {
            store.ping().await.unwrap();
            store.outlet_ids().await.unwrap();
        }
        assert!(
            !writing.is_finished(),
            "the reads were answered during the write"
        );
        writing.await.unwrap().unwrap();
    }
}
