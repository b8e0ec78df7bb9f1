-- The events of each booking, for its history: an index into `events` by the event's copy on
-- the `all` stream (every event has one, in commit order). Filled from the existing log.
CREATE TABLE booking_events (
    booking_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (booking_id, seq)
) WITHOUT ROWID;

INSERT INTO booking_events (booking_id, seq)
SELECT json_extract(doc, '$.booking_id'), seq
FROM events
WHERE stream = 'all' AND json_extract(doc, '$.booking_id') IS NOT NULL;
