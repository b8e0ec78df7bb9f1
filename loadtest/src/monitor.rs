//! Samples a local process's memory (RSS) and CPU from /proc while a scenario runs.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    pub max_rss_mib: f64,
    pub last_rss_mib: f64,
    /// Average CPU over the run, in % of one core.
    pub cpu_percent: f64,
}

fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
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

/// Samples `pid` every half second until the handle is aborted; `stop` returns the usage.
pub struct Monitor {
    pid: u32,
    started: Instant,
    ticks_at_start: u64,
    task: JoinHandle<()>,
    max_rss: std::sync::Arc<std::sync::Mutex<f64>>,
}

impl Monitor {
    pub fn start(pid: u32) -> Monitor {
        let max_rss = std::sync::Arc::new(std::sync::Mutex::new(rss_mib(pid).unwrap_or(0.0)));
        let shared = std::sync::Arc::clone(&max_rss);
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(rss) = rss_mib(pid) else { return };
                if let Ok(mut max) = shared.lock() {
                    *max = max.max(rss);
                }
            }
        });
        Monitor {
            pid,
            started: Instant::now(),
            ticks_at_start: cpu_ticks(pid).unwrap_or(0),
            task,
            max_rss,
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
        }
    }
}
