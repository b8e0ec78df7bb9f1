//! The writer: one task that owns the store's only read-write connection and takes its work
//! from a channel. Changes that queue up while a transaction is on disk are committed together
//! in the next one (group commit: one `fsync` for the lot); other writes run alone, in the
//! order they came. Nobody waits on a lock: callers await their answer, and the connection
//! goes to the blocking pool once per group, on the one thread doing the work.
//!
//! (A task rather than a dedicated thread: the blocking pool is what Tokio's paused test clock
//! knows to wait for, so the actors' timer tests see a commit take no virtual time.)

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{mpsc, oneshot};
use tracing::error;

use crate::domain::event::StoredEvent;
use crate::metrics::{STORE_GROUP_COMMIT_SIZE, STORE_WRITER_PANICS};
use crate::store::{Change, StoreError};

/// Most jobs one turn of the writer takes: a burst larger than this is split, so that no
/// change waits behind an unbounded transaction.
const GROUP_MAX: usize = 512;
/// Jobs that may wait for the writer; beyond, callers wait for room (backpressure, not an
/// unbounded queue).
const QUEUE: usize = 4 * GROUP_MAX;

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// How the store writes one change inside a transaction: its rows and events, with their seqs.
pub type Apply = fn(&Connection, Change) -> Result<Vec<StoredEvent>, StoreError>;

/// A write that is not an event-producing change (directory records, logins, secrets).
type Work = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Commit(Box<Change>, Reply<Vec<StoredEvent>>),
    Write(Work),
}

/// The handle to the writer task. When the last handle is dropped, the task finishes what
/// was queued, closes the connection and ends.
#[derive(Debug)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer on the current Tokio runtime; it writes each change with `apply`.
    pub fn start(conn: Connection, apply: Apply) -> Result<Writer, StoreError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Unavailable("the store's writer needs a Tokio runtime".into())
        })?;
        let (jobs, inbox) = mpsc::channel(QUEUE);
        runtime.spawn(run(conn, apply, inbox));
        Ok(Writer { jobs })
    }

    /// Commits `change` durably, grouped with whatever else is waiting.
    pub async fn commit(&self, change: Change) -> Result<Vec<StoredEvent>, StoreError> {
        let (reply, outcome) = oneshot::channel();
        self.send(Job::Commit(Box::new(change), reply)).await?;
        outcome.await.map_err(|_| dropped())?
    }

    /// Runs `work` in its own immediate transaction, committed before the answer.
    pub async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, outcome) = oneshot::channel();
        let work: Work = Box::new(move |conn| {
            let result = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(StoreError::from)
                .and_then(|tx| {
                    let value = work(&tx)?;
                    tx.commit()?;
                    Ok(value)
                });
            let _ = reply.send(result);
        });
        self.send(Job::Write(work)).await?;
        outcome.await.map_err(|_| dropped())?
    }

    async fn send(&self, job: Job) -> Result<(), StoreError> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))
    }
}

fn dropped() -> StoreError {
    StoreError::Unavailable("the write was dropped by the store's writer".into())
}

/// The writer task: waits for work, takes everything that queued meanwhile and does it on
/// the blocking pool, then waits again.
async fn run(mut conn: Connection, apply: Apply, mut inbox: mpsc::Receiver<Job>) {
    while let Some(first) = inbox.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX {
            match inbox.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let turn = tokio::task::spawn_blocking(move || {
            do_jobs(&mut conn, apply, jobs);
            conn
        });
        conn = match turn.await {
            Ok(conn) => conn,
            Err(err) => {
                // Only when the runtime shuts down: the jobs' callers are gone with it.
                error!(%err, "the store's writer stopped");
                return;
            }
        };
    }
}

/// Does `jobs` in order: consecutive changes in one transaction, each other write alone.
fn do_jobs(conn: &mut Connection, apply: Apply, jobs: Vec<Job>) {
    let mut group = vec![];
    for job in jobs {
        match job {
            Job::Commit(change, reply) => group.push((*change, reply)),
            Job::Write(work) => {
                // A write keeps its place: the changes before it commit first.
                commit_group(conn, apply, std::mem::take(&mut group));
                guarded(|| work(conn));
            }
        }
    }
    commit_group(conn, apply, group);
}

/// Runs one job; a panic in it (a bug) drops its reply, which the caller sees as an error,
/// and the writer goes on with the next.
fn guarded(job: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(job)).is_err() {
        error!("a store write panicked; its caller is told it failed");
        metrics::counter!(STORE_WRITER_PANICS).increment(1);
    }
}

/// Commits `batch` in one transaction, each change in its own savepoint (a refused one is
/// rolled back alone), and answers each change only once the transaction is durable.
fn commit_group(
    conn: &mut Connection,
    apply: Apply,
    batch: Vec<(Change, Reply<Vec<StoredEvent>>)>,
) {
    if batch.is_empty() {
        return;
    }
    metrics::histogram!(STORE_GROUP_COMMIT_SIZE).record(batch.len() as f64);
    guarded(move || {
        let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
            Ok(tx) => tx,
            Err(err) => {
                let err = StoreError::from(err);
                for (_, reply) in batch {
                    let _ = reply.send(Err(err.clone()));
                }
                return;
            }
        };
        let mut outcomes = Vec::with_capacity(batch.len());
        for (change, reply) in batch {
            let outcome = tx
                .savepoint()
                .map_err(StoreError::from)
                .and_then(|mut savepoint| match apply(&savepoint, change) {
                    Ok(events) => savepoint
                        .commit()
                        .map(|()| events)
                        .map_err(StoreError::from),
                    Err(err) => {
                        savepoint.rollback().map_err(StoreError::from)?;
                        Err(err)
                    }
                });
            outcomes.push((reply, outcome));
        }
        match tx.commit() {
            Ok(()) => {
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome);
                }
            }
            Err(err) => {
                let err = StoreError::from(err);
                for (reply, _) in outcomes {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> Writer {
        let no_changes: Apply = |_, _| Err(StoreError::Unavailable("no changes here".into()));
        Writer::start(Connection::open_in_memory().unwrap(), no_changes).unwrap()
    }

    #[tokio::test]
    async fn a_write_that_panics_fails_alone_and_the_writer_goes_on() {
        let writer = writer();
        let failed = writer
            .write(|_tx| -> Result<(), StoreError> { panic!("a bug in a write") })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Unavailable(_))),
            "{failed:?}"
        );
        let one = writer
            .write(|tx| Ok(tx.query_row("SELECT 1", [], |row| row.get::<_, i64>(0))?))
            .await;
        assert_eq!(one.ok(), Some(1));
    }

    #[tokio::test]
    async fn writes_keep_the_order_they_were_sent_in() {
        let writer = writer();
        writer
            .write(|tx| Ok(tx.execute_batch("CREATE TABLE log (n INTEGER)")?))
            .await
            .unwrap();
        let writes = (0..50).map(|n| {
            writer.write(move |tx| Ok(tx.execute("INSERT INTO log (n) VALUES (?1)", [n])?))
        });
        futures::future::join_all(writes).await;
        let order: Vec<i64> = writer
            .write(|tx| {
                let mut stmt = tx.prepare("SELECT n FROM log ORDER BY rowid")?;
                let rows = stmt.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    }
}
