-- Booth Hub embedded store, version 2: the WebSocket hub.

-- Booth events sent six times and never acked (contract §7), for admins to see.
CREATE TABLE dead_letters (
    id         TEXT PRIMARY KEY,   -- UUID v7: time-ordered
    outlet_id  TEXT NOT NULL,
    booth_id   TEXT NOT NULL,
    doc        TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX dead_letters_by_outlet ON dead_letters (outlet_id, id DESC);
CREATE INDEX dead_letters_by_booth ON dead_letters (booth_id, id DESC);

-- Booths whose last recorded presence is online (to close out after a crash).
ALTER TABLE booths ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
