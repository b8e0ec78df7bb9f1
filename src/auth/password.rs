//! Passwords are stored as argon2id PHC strings. Hashing is slow by design, so it runs on the
//! blocking pool, never on the async runtime, and at most (cores) checks run at once: the
//! others wait for a permit without holding a thread, so a login flood queues instead of
//! taking every core from the rest of the hub (contract §2).
//!
//! Each check works in argon2's memory (19 MiB with the default parameters). That memory is
//! allocated once per permit and reused, not allocated and freed per check: freed on whichever
//! blocking thread ran the check, it stayed cached in that thread's malloc arena, and a login
//! flood grew the hub by ~19 MiB per arena (to ~400 MiB, measured with the load tool's abuse
//! run). Now the hub holds at most (cores) work areas, whatever the load.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use crate::metrics::PASSWORD_CHECKS_WAITING;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A hash to verify against when the e-mail is unknown, so that both cases take as long.
static DECOY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    compute(
        b"decoy password",
        &Defaults::get(),
        salt.as_salt(),
        &mut WorkArea::default(),
    )
    .map(|hash| hash.to_string())
    .unwrap_or_default()
});

/// Password hashing and checking: one at a time per core.
static CHECKS: LazyLock<Limiter> = LazyLock::new(|| Limiter::new(concurrent_checks()));

/// How many password checks may run at once: the cores this process may use (2 if unknown).
fn concurrent_checks() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// The memory one argon2 computation works in, kept between computations.
#[derive(Default)]
struct WorkArea(Vec<Block>);

impl WorkArea {
    /// `count` blocks of this area, grown to that size if it is smaller.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

/// The algorithm, version and parameters new hashes are made with (argon2id, OWASP's
/// minimum: 19 MiB, 2 passes, 1 lane).
struct Defaults;

impl Defaults {
    fn get() -> (Algorithm, Version, Params) {
        (Algorithm::Argon2id, Version::V0x13, Params::default())
    }
}

/// The PHC hash of `password` with `salt`, computed in `area`: what `PasswordHasher` does,
/// with memory that outlives the call.
fn compute<'a>(
    password: &[u8],
    (algorithm, version, params): &(Algorithm, Version, Params),
    salt: Salt<'a>,
    area: &mut WorkArea,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let argon = Argon2::new(*algorithm, *version, params.clone());
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf)?;
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let blocks = area.blocks(params.block_count());
    let output = Output::init_with(output_len, |out| {
        Ok(argon.hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)?)
    })?;
    Ok(PasswordHash {
        algorithm: algorithm.ident(),
        version: Some((*version).into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Whether `password` hashes to `stored` with the stored algorithm, parameters and salt (the
/// outputs compared in constant time).
fn matches(password: &[u8], stored: &PasswordHash<'_>, area: &mut WorkArea) -> bool {
    let (Some(salt), Some(expected)) = (stored.salt, &stored.hash) else {
        return false;
    };
    let setting = (|| {
        let algorithm = Algorithm::try_from(stored.algorithm)?;
        let version = stored
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        Ok::<_, argon2::password_hash::Error>((algorithm, version, Params::try_from(stored)?))
    })();
    let Ok(setting) = setting else {
        return false;
    };
    // A parameter set larger than ours would grow the pooled area for good: compute it in
    // memory of its own instead.
    let mut own = WorkArea::default();
    let area = if setting.2.block_count() > Params::default().block_count() {
        &mut own
    } else {
        area
    };
    compute(password, &setting, salt, area)
        .is_ok_and(|computed| computed.hash.as_ref() == Some(expected))
}

/// Counts a caller waiting for a permit in `boothhub_password_checks_waiting` while it lives
/// (also when the waiting request is cancelled).
struct Waiting;

impl Waiting {
    fn start() -> Self {
        metrics::gauge!(PASSWORD_CHECKS_WAITING).increment(1.0);
        Waiting
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        metrics::gauge!(PASSWORD_CHECKS_WAITING).decrement(1.0);
    }
}

/// Runs slow work a limited number at a time, each in a work area of its own.
struct Limiter {
    permits: Arc<Semaphore>,
    /// The areas of the work running now and of the work that ran before: a job takes one (or
    /// makes one, while fewer exist than permits were ever used at once) and puts it back.
    areas: Arc<Mutex<Vec<WorkArea>>>,
}

impl Limiter {
    fn new(permits: usize) -> Limiter {
        Limiter {
            permits: Arc::new(Semaphore::new(permits)),
            areas: Arc::default(),
        }
    }

    /// Runs `work` on the blocking pool in a work area once a permit is granted. The permit
    /// goes with the work and is returned when the work is done, not when the caller stops
    /// waiting for it: a cancelled request cannot free a permit while its hash still runs.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut WorkArea) -> T + Send + 'static,
    ) -> Result<T, String> {
        let waiting = Waiting::start();
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        drop(waiting);
        let areas = Arc::clone(&self.areas);
        tokio::task::spawn_blocking(move || {
            let taken = areas.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut area = taken.unwrap_or_default();
            let result = work(&mut area);
            areas
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(area);
            drop(permit);
            result
        })
        .await
        .map_err(|e| e.to_string())
    }
}

pub async fn hash(password: String) -> Result<String, HashError> {
    CHECKS
        .run(move |area| {
            let salt = SaltString::generate(&mut OsRng);
            compute(password.as_bytes(), &Defaults::get(), salt.as_salt(), area)
                .map(|hash| hash.to_string())
                .map_err(|e| HashError(e.to_string()))
        })
        .await
        .map_err(HashError)?
}

/// Whether `password` matches `hash`; with no hash, checks against a decoy and says no.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    let known = hash.is_some();
    let matched = CHECKS
        .run(move |area| {
            let hash = hash.unwrap_or_else(|| DECOY.clone());
            PasswordHash::new(&hash).is_ok_and(|parsed| matches(password.as_bytes(), &parsed, area))
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

    #[test]
    fn hashes_agree_with_the_argon2_crates_own_hasher() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"stored before", &salt)
            .unwrap();
        let ours = compute(
            b"stored before",
            &Defaults::get(),
            salt.as_salt(),
            &mut WorkArea::default(),
        )
        .unwrap();
        assert_eq!(ours.to_string(), theirs.to_string());
        assert!(
            Argon2::default()
                .verify_password(b"stored before", &ours)
                .is_ok()
        );

        // Hashes stored with other parameters check with their own, in a smaller or a
        // larger area than the pooled one.
        let mut area = WorkArea::default();
        for (m_cost, t_cost, lanes) in [(8 * 1024, 1, 1), (19 * 1024, 2, 1), (32 * 1024, 1, 2)] {
            let params = Params::new(m_cost, t_cost, lanes, None).unwrap();
            let other = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password(b"other params", &salt)
                .unwrap();
            assert!(matches(b"other params", &other, &mut area), "{other}");
            assert!(!matches(b"other Params", &other, &mut area), "{other}");
        }
        assert_eq!(
            area.0.len(),
            Params::default().block_count(),
            "the pooled area did not grow"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn checks_reuse_at_most_one_work_area_per_permit() {
        let limiter = Arc::new(Limiter::new(2));
        let salt = SaltString::generate(&mut OsRng);
        let checks: Vec<_> = (0..12)
            .map(|i| {
                let (limiter, salt) = (Arc::clone(&limiter), salt.clone());
                tokio::spawn(async move {
                    limiter
                        .run(move |area| {
                            let guess = format!("guess {i}");
                            compute(guess.as_bytes(), &Defaults::get(), salt.as_salt(), area)
                                .is_ok()
                        })
                        .await
                })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.ok(), Some(Ok(true)));
        }
        let areas = limiter.areas.lock().unwrap();
        assert!(
            (1..=2).contains(&areas.len()),
            "{} work areas for 2 permits",
            areas.len()
        );
        let blocks = Params::default().block_count();
        assert!(areas.iter().all(|area| area.0.len() == blocks));
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
        let limiter = Arc::new(Limiter::new(3));
        let (running, peak) = (Arc::default(), Arc::<AtomicUsize>::default());
        let jobs: Vec<_> = (0..12)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                let work = job(Arc::clone(&running), Arc::clone(&peak));
                tokio::spawn(async move { limiter.run(|_| work()).await })
            })
            .collect();
        for handle in jobs {
            assert_eq!(handle.await.ok(), Some(Ok(())));
        }
        // Twelve jobs of 30 ms each on a blocking pool of hundreds of threads: without the
        // permits they would all overlap.
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(limiter.permits.available_permits(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_check_keeps_its_permit_until_the_work_is_done() {
        let limiter = Arc::new(Limiter::new(1));
        let (release, released) = mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let limiter = Arc::clone(&limiter);
            tokio::spawn(async move {
                limiter
                    .run(move |_| {
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
            limiter.permits.available_permits(),
            0,
            "the hash still runs after its caller went away"
        );
        release.send(()).ok();
        let again = tokio::time::timeout(Duration::from_secs(10), limiter.permits.acquire()).await;
        assert!(again.is_ok_and(|p| p.is_ok()), "the permit comes back");
    }
}
