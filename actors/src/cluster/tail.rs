//! Where this node is in the fan-out log, and what a read of it may hand over: rows come in
//! `all` order; a place not written yet (its writer is between its seqs and its batch) holds
//! the rows after it, for at most [`HOLE_PATIENCE`] (the same patience a client's sequencer has
//! with a gap), so that each stream's events reach listeners in seq order with no gap.

use std::time::{Duration, Instant};

use crate::store::Fanned;

/// How long a hole in the fan-out log holds the rows after it before it is skipped.
pub const HOLE_PATIENCE: Duration = Duration::from_secs(10);

/// The next place of the fan-out log this node waits for.
#[derive(Debug)]
pub struct Cursor {
    next: u64,
    hole_since: Option<Instant>,
}

/// What one read handed over.
#[derive(Debug, Default, PartialEq)]
pub struct Taken {
    pub rows: Vec<Fanned>,
    /// Holes given up on.
    pub skipped: u64,
}

impl Cursor {
    /// Starts at `next` (the place after the head of `all` when the node joined: what came
    /// before is in the event log, where clients resume from).
    pub fn at(next: u64) -> Cursor {
        Cursor {
            next,
            hole_since: None,
        }
    }

    pub fn next(&self) -> u64 {
        self.next
    }

    /// Takes from `rows` (a read from [`Cursor::next`] on, in seq order) those that follow on
    /// without a hole, or after a hole older than [`HOLE_PATIENCE`].
    pub fn take(&mut self, rows: Vec<Fanned>, now: Instant) -> Taken {
        let mut taken = Taken::default();
        for row in rows {
            if row.seq < self.next {
                continue;
            }
            if row.seq > self.next {
                let since = *self.hole_since.get_or_insert(now);
                if now.duration_since(since) < HOLE_PATIENCE {
                    break;
                }
                taken.skipped += 1;
            }
            self.next = row.next();
            self.hole_since = None;
            taken.rows.push(row);
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Event, EventKind, StoredEvent, Stream};
    use crate::domain::ids::{NodeId, OutletId};

    /// A change at `seq` with `on_all` events on `all` (and one on an outlet stream).
    fn change(seq: u64, on_all: u64) -> Fanned {
        let event = Event {
            event: EventKind::ConfigUpdated,
            booking_id: None,
            booth_id: None,
            outlet_id: None,
            status: None,
            at: chrono::DateTime::UNIX_EPOCH,
            data: serde_json::Value::Null,
        };
        let mut events: Vec<StoredEvent> = (0..on_all)
            .map(|i| StoredEvent {
                stream: Stream::All,
                seq: seq + i,
                event: event.clone(),
            })
            .collect();
        events.push(StoredEvent {
            stream: Stream::Outlet(OutletId::new()),
            seq: 1,
            event,
        });
        Fanned {
            seq,
            origin: NodeId::new(),
            events,
        }
    }

    fn seqs(taken: &Taken) -> Vec<u64> {
        taken.rows.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn rows_that_follow_on_are_taken_and_the_cursor_moves_past_each_change() {
        let t0 = Instant::now();
        let mut cursor = Cursor::at(5);
        let taken = cursor.take(vec![change(5, 2), change(7, 1), change(8, 3)], t0);
        assert_eq!(seqs(&taken), [5, 7, 8]);
        assert_eq!(taken.skipped, 0);
        assert_eq!(cursor.next(), 11);
    }

    #[test]
    fn rows_already_taken_are_not_taken_again() {
        let t0 = Instant::now();
        let mut cursor = Cursor::at(5);
        cursor.take(vec![change(5, 2)], t0);
        let taken = cursor.take(vec![change(5, 2), change(7, 1)], t0);
        assert_eq!(seqs(&taken), [7]);
    }

    #[test]
    fn a_hole_holds_the_rows_after_it_until_it_is_filled() {
        let t0 = Instant::now();
        let mut cursor = Cursor::at(5);
        let taken = cursor.take(vec![change(6, 1), change(7, 1)], t0);
        assert_eq!(taken, Taken::default(), "5 is not written yet");
        assert_eq!(cursor.next(), 5);
        let later = t0 + Duration::from_secs(3);
        let taken = cursor.take(vec![change(5, 1), change(6, 1), change(7, 1)], later);
        assert_eq!(seqs(&taken), [5, 6, 7]);
        assert_eq!(taken.skipped, 0);
    }

    #[test]
    fn a_hole_older_than_the_patience_is_skipped_once_and_counted() {
        let t0 = Instant::now();
        let mut cursor = Cursor::at(5);
        assert!(cursor.take(vec![change(6, 1)], t0).rows.is_empty());
        let cases = [
            (Duration::from_secs(9), vec![]),
            (HOLE_PATIENCE, vec![6, 7]),
        ];
        for (after, want) in cases {
            let taken = cursor.take(vec![change(6, 1), change(7, 1)], t0 + after);
            assert_eq!(seqs(&taken), want, "after {after:?}");
        }
        assert_eq!(cursor.next(), 8);
        // A new hole gets the whole patience again.
        let t1 = t0 + Duration::from_secs(20);
        assert!(cursor.take(vec![change(9, 1)], t1).rows.is_empty());
        let taken = cursor.take(vec![change(9, 1)], t1 + Duration::from_secs(1));
        assert!(taken.rows.is_empty());
    }

    #[test]
    fn an_empty_read_changes_nothing() {
        let mut cursor = Cursor::at(3);
        assert_eq!(cursor.take(vec![], Instant::now()), Taken::default());
        assert_eq!(cursor.next(), 3);
    }
}
