-- Payments get an id of their own (contract v1.2): a UUID made from the event id, the same in
-- every store. This table finds a payment by it; the hub fills it for the payments already
-- stored when it applies this file (the id is a SHA-256, which SQL cannot compute here).
CREATE TABLE payment_ids (
    id        TEXT PRIMARY KEY,
    event_id  TEXT NOT NULL
) WITHOUT ROWID;
