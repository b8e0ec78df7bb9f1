//! Passwords are stored as argon2id PHC strings. Hashing is slow by design, so it runs on the
//! blocking pool, never on the async runtime, and at most (cores) checks run at once: the
//! others wait for a permit without holding a thread, so a login flood queues instead of
//! taking every core from the rest of the hub (contract §2).

use std::sync::{Arc, LazyLock};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A hash to verify against when the e-mail is unknown, so that both cases take as long.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(b"decoy password", &salt)
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Permits for password hashing and checking: one per core.
static CHECKS: LazyLock<Arc<Semaphore>> =
    LazyLock::new(|| Arc::new(Semaphore::new(concurrent_checks())));

/// How many password checks may run at once: the cores this process may use (2 if unknown).
fn concurrent_checks() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// Counts a caller waiting for a permit in `boothhub_password_checks_waiting` while it lives
/// (also when the waiting request is cancelled).
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!("boothhub_password_checks_waiting").increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!("boothhub_password_checks_waiting").decrement(1.0);
    }
}

/// Runs `work` on the blocking pool once `permits` grants a permit. The permit goes with the
/// work and is returned when the work is done, not when the caller stops waiting for it: a
/// cancelled request cannot free a permit while its hash still runs.
async fn run_limited<T: Send + 'static>(
    permits: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let waiting = Waiting::start();
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|e| e.to_string())?;
    drop(waiting);
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .map_err(|e| e.to_string())
}

pub async fn hash(password: String) -> Result<String, HashError> {
    run_limited(&CHECKS, move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| HashError(e.to_string()))
    })
    .await
    .map_err(HashError)?
}

/// Whether `password` matches `hash`; with no hash, checks against a decoy and says no.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let matched = run_limited(&CHECKS, move || {
        let hash = hash.unwrap_or_else(|| DECOY.clone());
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    known && matched
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse".into()).await.ok();
        assert!(hash.as_deref().is_some_and(|h| h.starts_with("$argon2id$")));
        assert!(verify("correct horse".into(), hash.clone()).await);
        assert!(!verify("wrong horse".into(), hash).await);
        assert!(!verify("anything".into(), None).await);
    }

    /// Blocks its thread for a while, counting how many such jobs run at once.
    fn job(running: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> impl FnOnce() + Send {
        move || {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let (_keep, never) = mpsc::channel::<()>();
            let _ = never.recv_timeout(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_the_permitted_number_of_checks_run_at_once() {
        let permits = Arc::new(Semaphore::new(3));
        let (running, peak) = (Arc::default(), Arc::<AtomicUsize>::default());
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let permits = Arc::clone(&permits);
                let work = job(Arc::clone(&running), Arc::clone(&peak));
                tokio::spawn(async move { run_limited(&permits, work).await })
            })
            .collect();
        for handle in jobs {
            assert_eq!(handle.await.ok(), Some(Ok(())));
        }
        // Twelve jobs of 30 ms each on a blocking pool of hundreds of threads: without the
        // permits they would all overlap.
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(permits.available_permits(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_check_keeps_its_permit_until_the_work_is_done() {
        let permits = Arc::new(Semaphore::new(1));
        let (release, released) = mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let permits = Arc::clone(&permits);
            tokio::spawn(async move {
                run_limited(&permits, move || {
                    let _ = started.send(());
                    let _ = released.recv_timeout(Duration::from_secs(10));
                })
                .await
            })
        };
        has_started.await.ok();
        task.abort();
        let _ = task.await;
        assert_eq!(
            permits.available_permits(),
            0,
            "the hash still runs after its caller went away"
        );
        release.send(()).ok();
        let again = tokio::time::timeout(Duration::from_secs(10), permits.acquire()).await;
        assert!(again.is_ok_and(|p| p.is_ok()), "the permit comes back");
    }
}
