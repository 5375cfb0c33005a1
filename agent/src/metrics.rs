//! Live figures for heartbeats: CPU and RAM of the whole machine (sysinfo), GPUs through `nvidia-smi`.

use pictor_core::agent_protocol::LiveMetrics;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::nvidia;

/// Keeps the previous CPU reading: usage is measured between two samples.
pub struct Sampler {
    system: System,
}

impl Default for Sampler {
    fn default() -> Self {
        Self::new()
    }
}

impl Sampler {
    pub fn new() -> Self {
        // The first reading starts the CPU measurement; registration takes long enough for it to mean something.
        Self { system: System::new_with_specifics(Self::what()) }
    }

    fn what() -> RefreshKind {
        RefreshKind::nothing()
            .with_cpu(CpuRefreshKind::nothing().with_cpu_usage())
            .with_memory(MemoryRefreshKind::nothing().with_ram())
    }

    pub async fn sample(&mut self) -> LiveMetrics {
        self.system.refresh_specifics(Self::what());
        LiveMetrics {
            cpu_percent: self.system.global_cpu_usage().clamp(0.0, 100.0),
            ram_used_bytes: self.system.used_memory(),
            ram_total_bytes: self.system.total_memory(),
            gpus: nvidia::live().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sample_reports_this_machines_memory_and_a_cpu_percentage() {
        let mut sampler = Sampler::new();
        tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL).await;
        let metrics = sampler.sample().await;
        assert!((0.0..=100.0).contains(&metrics.cpu_percent), "{}", metrics.cpu_percent);
        assert!(metrics.ram_total_bytes > 0);
        assert!(metrics.ram_used_bytes <= metrics.ram_total_bytes);
    }
}
