//! The report files of a push run: `report.json` (every figure), `report.md` (a summary a
//! person reads) and `latency.svg` (a histogram of push latency at the booths and dashboards).
//! An abuse run writes the same files with its attacks and checks added.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::json;

use crate::push::Report;
use crate::stats::Summary;

/// Histogram buckets, upper bounds in milliseconds.
const BUCKETS: [f64; 11] = [
    1.0,
    2.0,
    5.0,
    10.0,
    20.0,
    50.0,
    100.0,
    200.0,
    500.0,
    1000.0,
    f64::INFINITY,
];

/// What was run, for the report's header.
pub struct Run {
    pub booths: usize,
    pub dashboards: usize,
    pub rate: f64,
    pub hub_rss_mib: Option<f64>,
    pub hub_cpu_percent: Option<f64>,
    pub hub_max_fds: Option<usize>,
}

fn share(samples: &[Duration]) -> Vec<f64> {
    let mut counts = [0usize; BUCKETS.len()];
    for sample in samples {
        let ms = sample.as_secs_f64() * 1000.0;
        let index = BUCKETS
            .iter()
            .position(|upper| ms <= *upper)
            .unwrap_or(BUCKETS.len() - 1);
        counts[index] += 1;
    }
    let total = samples.len().max(1) as f64;
    counts.iter().map(|c| *c as f64 * 100.0 / total).collect()
}

fn label(index: usize) -> String {
    match (index.checked_sub(1).map(|i| BUCKETS[i]), BUCKETS[index]) {
        (None, upper) => format!("≤{upper}"),
        (Some(lower), upper) if upper.is_infinite() => format!(">{lower}"),
        (Some(_), upper) => format!("≤{upper}"),
    }
}

/// An SVG bar chart: for each bucket, the share of booth and dashboard samples.
pub fn histogram_svg(report: &Report) -> String {
    let booth = share(&report.booth_samples);
    let dashboards = share(&report.dashboard_samples);
    let (width, height, left, bottom, top) = (760.0, 360.0, 50.0, 40.0, 40.0);
    let plot_height = height - bottom - top;
    let group = (width - left - 20.0) / BUCKETS.len() as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="20" font-size="14">Push latency (request sent → event received), share of events per bucket (ms)</text>
<rect x="{}" y="26" width="10" height="10" fill="#2b6cb0"/><text x="{}" y="35">booths</text>
<rect x="{}" y="26" width="10" height="10" fill="#dd6b20"/><text x="{}" y="35">dashboards</text>
"##,
        width - 200.0,
        width - 185.0,
        width - 120.0,
        width - 105.0
    );
    for pct in [0.0, 25.0, 50.0, 75.0, 100.0] {
        let y = top + plot_height * (1.0 - pct / 100.0);
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="#ddd"/><text x="8" y="{}">{pct}%</text>"##,
            width - 20.0,
            y + 4.0
        );
    }
    for (index, (b, d)) in booth.iter().zip(&dashboards).enumerate() {
        let x = left + group * index as f64 + group * 0.1;
        let bar = group * 0.38;
        for (offset, value, colour) in [(0.0, b, "#2b6cb0"), (bar, d, "#dd6b20")] {
            let h = plot_height * value / 100.0;
            let _ = writeln!(
                svg,
                r##"<rect x="{}" y="{}" width="{bar}" height="{h}" fill="{colour}"/>"##,
                x + offset,
                top + plot_height - h
            );
        }
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
            x + bar,
            height - bottom + 16.0,
            label(index)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn rows(summary: &Summary) -> Vec<(&'static str, f64)> {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    vec![
        ("p50", ms(summary.p50)),
        ("p90", ms(summary.p90)),
        ("p99", ms(summary.p99)),
        ("p99.9", ms(summary.p999)),
        ("max", ms(summary.max)),
        ("mean", ms(summary.mean)),
    ]
}

pub fn markdown(run: &Run, report: &Report) -> String {
    format!("# Booth Hub push run\n\n{}", push_section(run, report))
}

/// The push figures without a heading (an abuse run's report embeds them).
pub fn push_section(run: &Run, report: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "{} booths (MessagePack, acking), {} dashboards (JSON), {:.0} lifecycles/s asked; {} lifecycles in {:.1} s.\n",
        run.booths,
        run.dashboards,
        run.rate,
        report.lifecycles,
        report.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| stat | at the booth ({} events), ms | at the dashboards ({} events), ms |",
        report.booth_receipts, report.dashboard_receipts
    );
    let _ = writeln!(md, "|---|---|---|");
    for ((name, booth), (_, dashboards)) in rows(&report.booth_latency)
        .into_iter()
        .zip(rows(&report.dashboard_latency))
    {
        let _ = writeln!(md, "| {name} | {booth:.3} | {dashboards:.3} |");
    }
    let _ = writeln!(
        md,
        "\nLost: {}, gaps: {}, duplicates: {}; booth redeliveries (at-least-once, acks lost with dropped connections): {}; slow-consumer closes (4008, each resumed): {} while measured, {} while the connect-time presence events were delivered.",
        report.lost,
        report.gaps,
        report.duplicates,
        report.redelivered,
        report.slow_closes,
        report.slow_closes_at_connect
    );
    if let Some(storm) = report.storm {
        let back = storm.all_back_within.map_or_else(
            || "not all came back".to_owned(),
            |d| format!("all back and resumed within {:.2} s", d.as_secs_f64()),
        );
        let _ = writeln!(
            md,
            "\nReconnect storm: {} booths dropped at once, {} resumed; {back}.",
            storm.dropped, storm.resumed
        );
    }
    if let (Some(rss), Some(cpu), Some(fds)) =
        (run.hub_rss_mib, run.hub_cpu_percent, run.hub_max_fds)
    {
        let _ = writeln!(
            md,
            "\nHub process: max RSS {rss:.0} MiB, CPU {cpu:.0}% of one core on average, at most {fds} open file descriptors."
        );
    }
    let _ = writeln!(md, "\n![latency histogram](latency.svg)");
    md
}

pub fn json(run: &Run, report: &Report) -> serde_json::Value {
    let table = |summary: &Summary| {
        serde_json::Value::Object(
            rows(summary)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect(),
        )
    };
    json!({
        "scenario": "push",
        "booths": run.booths,
        "dashboards": run.dashboards,
        "rate": run.rate,
        "lifecycles": report.lifecycles,
        "elapsed_s": report.elapsed.as_secs_f64(),
        "booth_latency_ms": table(&report.booth_latency),
        "dashboard_latency_ms": table(&report.dashboard_latency),
        "booth_events": report.booth_receipts,
        "dashboard_events": report.dashboard_receipts,
        "lost": report.lost,
        "gaps": report.gaps,
        "duplicates": report.duplicates,
        "booth_redeliveries": report.redelivered,
        "slow_consumer_closes": report.slow_closes,
        "slow_consumer_closes_at_connect": report.slow_closes_at_connect,
        "storm": report.storm.map(|s| json!({
            "dropped": s.dropped,
            "resumed": s.resumed,
            "all_back_within_s": s.all_back_within.map(|d| d.as_secs_f64()),
        })),
        "hub_max_rss_mib": run.hub_rss_mib,
        "hub_cpu_percent": run.hub_cpu_percent,
        "hub_max_fds": run.hub_max_fds,
    })
}

/// Writes the three files into `dir` (created if needed).
pub fn write(dir: &Path, run: &Run, report: &Report) -> anyhow::Result<()> {
    write_files(dir, &json(run, report), &markdown(run, report), report)
}

/// Writes `report.json` and `report.md` as given, and the latency histogram of `report`.
pub fn write_files(
    dir: &Path,
    json: &serde_json::Value,
    markdown: &str,
    report: &Report,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(json)?)?;
    std::fs::write(dir.join("report.md"), markdown)?;
    std::fs::write(dir.join("latency.svg"), histogram_svg(report))?;
    Ok(())
}
