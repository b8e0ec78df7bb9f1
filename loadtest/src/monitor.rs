//! Samples a local process's memory (RSS), open file descriptors (its sockets among them) and
//! CPU from /proc while a scenario runs.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// How often the process is sampled: short bursts of connections must show.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);

#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub max_rss_mib: f64,
    pub last_rss_mib: f64,
    /// Average CPU over the run, in % of one core.
    pub cpu_percent: f64,
    /// The most file descriptors the process held open at once (sampled).
    pub max_fds: usize,
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Open file descriptors: every client connection is one, plus the store's files.
fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// utime + stime, in clock ticks (100 a second on Linux).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Samples `pid` every 200 ms until the handle is aborted; `stop` returns the usage.
pub struct Monitor {
    pid: u32,
    started: Instant,
    ticks_at_start: u64,
    task: JoinHandle<()>,
    max_rss: std::sync::Arc<std::sync::Mutex<f64>>,
    max_fds: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Monitor {
    pub fn start(pid: u32) -> Monitor {
        let max_rss = std::sync::Arc::new(std::sync::Mutex::new(rss_mib(pid).unwrap_or(0.0)));
        let max_fds = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(
            open_fds(pid).unwrap_or(0),
        ));
        let (shared_rss, shared_fds) = (
            std::sync::Arc::clone(&max_rss),
            std::sync::Arc::clone(&max_fds),
        );
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(SAMPLE_EVERY).await;
                let Some(rss) = rss_mib(pid) else { return };
                if let Ok(mut max) = shared_rss.lock() {
                    *max = max.max(rss);
                }
                if let Some(fds) = open_fds(pid) {
                    shared_fds.fetch_max(fds, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        Monitor {
            pid,
            started: Instant::now(),
            ticks_at_start: cpu_ticks(pid).unwrap_or(0),
            task,
            max_rss,
            max_fds,
        }
    }

    pub fn stop(self) -> Usage {
        self.task.abort();
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        let ticks = cpu_ticks(self.pid)
            .unwrap_or(self.ticks_at_start)
            .saturating_sub(self.ticks_at_start);
        let last = rss_mib(self.pid).unwrap_or(0.0);
        let max = self.max_rss.lock().map(|m| *m).unwrap_or(0.0).max(last);
        Usage {
            max_rss_mib: max,
            last_rss_mib: last,
            cpu_percent: ticks as f64 / seconds,
            max_fds: self
                .max_fds
                .load(std::sync::atomic::Ordering::Relaxed)
                .max(open_fds(self.pid).unwrap_or(0)),
        }
    }
}
