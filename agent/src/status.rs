//! The words of the worker's status line, e.g. "online · cpu 12 % · ram 3.1/16 GiB · next heartbeat in 4 s".

use std::time::Duration;

use pictor_core::agent_protocol::LiveMetrics;

const SEP: &str = " · ";

/// Connected; `asleep` is the coordinator's word that the worker is inside its sleep schedule.
pub fn online(asleep: bool, metrics: &LiveMetrics, next_heartbeat: Duration) -> String {
    let mut parts = vec![if asleep { "online, asleep (takes no work)".to_owned() } else { "online".to_owned() }];
    parts.push(format!("cpu {:.0} %", metrics.cpu_percent));
    parts.push(format!("ram {}/{} GiB", gib(metrics.ram_used_bytes), gib(metrics.ram_total_bytes)));
    for gpu in &metrics.gpus {
        parts.push(format!("gpu {:.0} % {:.0} °C", gpu.utilisation_percent, gpu.temperature_c));
    }
    parts.push(format!("next heartbeat in {}", seconds(next_heartbeat)));
    parts.join(SEP)
}

pub fn connecting() -> String {
    "connecting to the coordinator…".to_owned()
}

pub fn unreachable(retry_in: Duration) -> String {
    format!("coordinator unreachable{SEP}retrying in {}", seconds(retry_in))
}

/// Whole seconds, rounded up so a countdown never shows "0 s" while still waiting.
pub fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    format!("{} s", millis.div_ceil(1000))
}

/// A duration for a log line: "0.5 s", "5 s", "1.5 s".
pub fn interval(duration: Duration) -> String {
    let text = format!("{:.1}", duration.as_secs_f64());
    format!("{} s", text.strip_suffix(".0").unwrap_or(&text))
}

/// Gibibytes with one decimal, without a trailing ".0" ("3.1", "16").
pub fn gib(bytes: u64) -> String {
    let text = format!("{:.1}", bytes as f64 / (1u64 << 30) as f64);
    text.strip_suffix(".0").map(str::to_owned).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pictor_core::agent_protocol::GpuLive;

    fn metrics() -> LiveMetrics {
        LiveMetrics {
            cpu_percent: 12.4,
            ram_used_bytes: 3_328_599_654, // 3.1 GiB
            ram_total_bytes: 16 << 30,
            gpus: vec![],
        }
    }

    #[test]
    fn the_online_line_shows_cpu_ram_and_the_next_heartbeat() {
        assert_eq!(
            online(false, &metrics(), Duration::from_millis(3_200)),
            "online · cpu 12 % · ram 3.1/16 GiB · next heartbeat in 4 s"
        );
    }

    #[test]
    fn an_asleep_worker_and_its_gpus_are_shown() {
        let mut m = metrics();
        m.gpus.push(GpuLive { utilisation_percent: 97.0, temperature_c: 71.0, vram_used_bytes: 0 });
        let line = online(true, &m, Duration::from_secs(5));
        assert!(line.starts_with("online, asleep (takes no work) · "), "{line}");
        assert!(line.contains(" · gpu 97 % 71 °C · "), "{line}");
    }

    #[test]
    fn the_retry_countdown_rounds_up() {
        assert_eq!(unreachable(Duration::from_millis(1)), "coordinator unreachable · retrying in 1 s");
        assert_eq!(seconds(Duration::ZERO), "0 s");
        assert_eq!(interval(Duration::from_millis(500)), "0.5 s");
        assert_eq!(interval(Duration::from_secs(5)), "5 s");
        assert_eq!(gib(0), "0");
        assert_eq!(gib(1 << 29), "0.5");
    }
}
