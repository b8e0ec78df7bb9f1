-- Booth Hub embedded store (SQLite), version 1.
-- Times are INTEGER milliseconds since the Unix epoch (UTC); records are JSON documents
-- beside the columns their access paths need.

CREATE TABLE outlets (
    id   TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE users (
    id     TEXT PRIMARY KEY,
    email  TEXT NOT NULL UNIQUE,   -- lower-cased
    role   TEXT NOT NULL,
    doc    TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE login_tokens (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_tokens_by_expiry ON login_tokens (expires_at);

CREATE TABLE booths (
    id          TEXT PRIMARY KEY,
    outlet_id   TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    doc         TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX booths_by_outlet ON booths (outlet_id, id);

CREATE TABLE system_config (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    doc  TEXT NOT NULL
);

CREATE TABLE bookings (
    id            TEXT PRIMARY KEY,
    outlet_id     TEXT NOT NULL,
    booth_id      TEXT,
    status        TEXT NOT NULL,
    booking_time  INTEGER NOT NULL,
    live          INTEGER NOT NULL,
    doc           TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX bookings_by_outlet_time ON bookings (outlet_id, booking_time DESC, id DESC);
CREATE INDEX bookings_by_time ON bookings (booking_time DESC, id DESC);
CREATE INDEX bookings_live_by_booth ON bookings (booth_id, booking_time) WHERE live = 1;
CREATE INDEX bookings_live_by_outlet ON bookings (outlet_id, booking_time) WHERE live = 1;
CREATE INDEX bookings_live ON bookings (live) WHERE live = 1;

CREATE TABLE payments (
    event_id         TEXT PRIMARY KEY,
    booking_id       TEXT NOT NULL,
    outlet_id        TEXT,
    refund_required  INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    doc              TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX payments_by_booking ON payments (booking_id);
CREATE INDEX payments_by_time ON payments (received_at DESC, event_id DESC);
CREATE INDEX payments_by_outlet ON payments (outlet_id, received_at DESC);

CREATE TABLE audit (
    id          TEXT PRIMARY KEY,
    outlet_id   TEXT,
    booking_id  TEXT,
    doc         TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX audit_by_outlet ON audit (outlet_id, id DESC);
CREATE INDEX audit_by_booking ON audit (booking_id, id DESC);

-- The head of each stream: the last seq given out.
CREATE TABLE streams (
    stream  TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL
) WITHOUT ROWID;

-- The durable event log: one row per (stream, seq).
CREATE TABLE events (
    stream  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    doc     TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;

CREATE TABLE secrets (
    name   TEXT PRIMARY KEY,
    value  BLOB NOT NULL
) WITHOUT ROWID;
