//! The readers: a few read-only connections that serve reads beside the writer (WAL lets them
//! read the last committed state while a commit is on its way). A read waits for a free
//! connection without holding a thread, then runs on the blocking pool.

use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::StoreError;

#[derive(Debug)]
pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    /// One permit per idle connection.
    free: Arc<Semaphore>,
}

impl Readers {
    pub fn new(connections: Vec<Connection>) -> Readers {
        Readers {
            free: Arc::new(Semaphore::new(connections.len())),
            idle: Arc::new(Mutex::new(connections)),
        }
    }

    /// Runs `work` on a free reader.
    pub async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.free)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let lease = Lease {
            conn: self
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop(),
            idle: Arc::clone(&self.idle),
            _permit: permit,
        };
        // The lease (and its permit) goes with the blocking task: a caller that gives up
        // does not free the reader while it is still reading.
        tokio::task::spawn_blocking(move || {
            let no_reader = || Err(StoreError::Unavailable("no store reader is free".into()));
            lease.conn.as_ref().map_or_else(no_reader, work)
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("a store read failed: {e}")))?
    }
}

/// A reader taken for one read, given back when dropped (also when the read panicked),
/// before its permit is released.
struct Lease {
    conn: Option<Connection>,
    idle: Arc<Mutex<Vec<Connection>>>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }
}
