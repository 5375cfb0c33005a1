//! What this machine is (host, OS, CPU, RAM, GPUs), probed once at start for registration.

use pictor_core::agent_protocol::Hardware;
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

use crate::nvidia;

/// Probes everything but Blender (see [`crate::blender`]); each figure falls back to something plain rather than fail.
pub async fn probe() -> Hardware {
    let system = System::new_with_specifics(
        RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()).with_memory(MemoryRefreshKind::nothing().with_ram()),
    );
    let os_release = std::fs::read_to_string("/etc/os-release").ok();
    Hardware {
        hostname: System::host_name().filter(|h| !h.is_empty()).unwrap_or_else(|| "unknown".into()),
        os: os_release
            .as_deref()
            .and_then(pretty_name)
            .or_else(System::long_os_version)
            .unwrap_or_else(|| std::env::consts::OS.into()),
        cpu_model: cpu_model(system.cpus().iter().map(|c| c.brand())),
        cpu_cores: std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX)),
        ram_bytes: system.total_memory(),
        gpus: nvidia::gpus().await,
        blenders: Vec::new(),
        sandbox: String::new(),
        ai_batch: false,
        ai_train: false,
    }
}

/// `PRETTY_NAME` from `/etc/os-release`, e.g. "Debian GNU/Linux 12 (bookworm)".
pub fn pretty_name(os_release: &str) -> Option<String> {
    os_release.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PRETTY_NAME=")?;
        let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The first CPU brand that says something (all cores of a machine normally share it).
pub fn cpu_model<'a>(brands: impl IntoIterator<Item = &'a str>) -> String {
    brands.into_iter().map(str::trim).find(|b| !b.is_empty()).unwrap_or("unknown CPU").to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_os_is_the_pretty_name() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n";
        assert_eq!(pretty_name(debian).as_deref(), Some("Debian GNU/Linux 12 (bookworm)"));
        assert_eq!(
            pretty_name("NAME=Alpine\nPRETTY_NAME='Alpine Linux v3.20'\n").as_deref(),
            Some("Alpine Linux v3.20")
        );
        assert_eq!(pretty_name("NAME=Plain\n"), None);
        assert_eq!(pretty_name("PRETTY_NAME=\"\"\n"), None);
    }

    #[test]
    fn the_cpu_model_skips_empty_brands() {
        assert_eq!(cpu_model(["", "  AMD EPYC 7763 64-Core Processor "]), "AMD EPYC 7763 64-Core Processor");
        assert_eq!(cpu_model([]), "unknown CPU");
    }

    #[tokio::test]
    async fn probing_this_machine_gives_plausible_figures() {
        let hardware = probe().await;
        assert!(!hardware.hostname.is_empty());
        assert!(!hardware.os.is_empty());
        assert!(hardware.cpu_cores >= 1);
        assert!(hardware.ram_bytes > 0);
    }
}
