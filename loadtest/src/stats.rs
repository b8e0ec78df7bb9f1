//! Latency percentiles.

use std::time::Duration;

pub struct Summary {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Summary {
    /// Sorts `samples` and reads the percentiles (nearest rank).
    pub fn of(samples: &mut [Duration]) -> Summary {
        samples.sort_unstable();
        let rank = |q: f64| {
            let index =
                ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            samples.get(index).copied().unwrap_or_default()
        };
        let total: Duration = samples.iter().sum();
        let count = u32::try_from(samples.len().max(1)).unwrap_or(u32::MAX);
        Summary {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            p999: rank(0.999),
            max: samples.last().copied().unwrap_or_default(),
            mean: total / count,
        }
    }

    fn rows(&self) -> [(&'static str, Duration); 6] {
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p99", self.p99),
            ("p99.9", self.p999),
            ("max", self.max),
            ("mean", self.mean),
        ]
    }

    pub fn table(&self) -> String {
        let mut out = String::from("| stat | ms |\n|---|---|\n");
        for (name, value) in self.rows() {
            out.push_str(&format!(
                "| {name} | {:.3} |\n",
                value.as_secs_f64() * 1000.0
            ));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for (name, value) in self.rows() {
            map.insert(
                name.to_owned(),
                serde_json::json!(value.as_secs_f64() * 1000.0),
            );
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut samples: Vec<Duration> = (1..=1000).rev().map(Duration::from_millis).collect();
        let summary = Summary::of(&mut samples);
        assert_eq!(summary.p50, Duration::from_millis(500));
        assert_eq!(summary.p99, Duration::from_millis(990));
        assert_eq!(summary.p999, Duration::from_millis(999));
        assert_eq!(summary.max, Duration::from_millis(1000));
        assert_eq!(Summary::of(&mut []).max, Duration::ZERO);
    }
}
