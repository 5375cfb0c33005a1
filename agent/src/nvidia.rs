//! NVIDIA GPUs through `nvidia-smi`: the static list for registration and the live figures for heartbeats.
//!
//! A machine without `nvidia-smi` simply has no GPUs to report; that is not an error.

use std::path::PathBuf;
use std::time::Duration;

use pictor_core::agent_protocol::{GpuInfo, GpuLive};

use crate::exec;

const TIMEOUT: Duration = Duration::from_secs(10);
const MIB: u64 = 1024 * 1024;

fn nvidia_smi() -> Option<PathBuf> {
    exec::find_on_path("nvidia-smi")
}

/// The machine's GPUs, or none when `nvidia-smi` is absent or fails (logged).
pub async fn gpus() -> Vec<GpuInfo> {
    let Some(program) = nvidia_smi() else {
        tracing::debug!("nvidia-smi not found: no GPUs reported");
        return Vec::new();
    };
    let query = ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"];
    let list = match exec::run(&program, query, &[], TIMEOUT).await {
        Ok(out) => parse_gpu_list(&out),
        Err(e) => {
            tracing::warn!("cannot list GPUs: {e}");
            return Vec::new();
        }
    };
    // The CUDA version the driver supports appears only in the plain report's header.
    let cuda = match exec::run(&program, std::iter::empty::<&str>(), &[], TIMEOUT).await {
        Ok(out) => parse_cuda_version(&out),
        Err(e) => {
            tracing::debug!("no CUDA version from nvidia-smi: {e}");
            None
        }
    };
    list.into_iter().map(|gpu| GpuInfo { cuda: cuda.clone(), ..gpu }).collect()
}

/// Live figures per GPU, or none when `nvidia-smi` is absent or fails.
pub async fn live() -> Vec<GpuLive> {
    let Some(program) = nvidia_smi() else { return Vec::new() };
    let query = ["--query-gpu=utilization.gpu,temperature.gpu,memory.used", "--format=csv,noheader,nounits"];
    match exec::run(&program, query, &[], TIMEOUT).await {
        Ok(out) => parse_gpu_live(&out),
        Err(e) => {
            tracing::debug!("no live GPU figures: {e}");
            Vec::new()
        }
    }
}

/// Lines of `name, memory.total (MiB), driver_version`. A GPU name may itself contain commas, so the
/// fields are taken from the right.
pub fn parse_gpu_list(output: &str) -> Vec<GpuInfo> {
    output
        .lines()
        .filter_map(|line| {
            let mut fields = line.rsplitn(3, ',').map(str::trim);
            let driver = fields.next()?;
            let memory = fields.next()?;
            let name = fields.next()?;
            if name.is_empty() {
                return None;
            }
            Some(GpuInfo {
                model: name.to_owned(),
                vram_bytes: number(memory).map_or(0, |mib| (mib * MIB as f64) as u64),
                driver: known(driver).map(str::to_owned),
                cuda: None,
            })
        })
        .collect()
}

/// `CUDA Version: 12.2` from the header of plain `nvidia-smi`.
pub fn parse_cuda_version(output: &str) -> Option<String> {
    let rest = output.split("CUDA Version:").nth(1)?;
    let version = rest.split_whitespace().next()?.trim_end_matches('|');
    known(version).map(str::to_owned)
}

/// Lines of `utilization.gpu (%), temperature.gpu (°C), memory.used (MiB)`; unsupported figures read as 0.
pub fn parse_gpu_live(output: &str) -> Vec<GpuLive> {
    output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut fields = line.split(',').map(str::trim);
            let mut next = || fields.next().and_then(number).unwrap_or(0.0);
            let utilisation = next();
            let temperature = next();
            let memory = next();
            GpuLive {
                utilisation_percent: utilisation as f32,
                temperature_c: temperature as f32,
                vram_used_bytes: (memory * MIB as f64) as u64,
            }
        })
        .collect()
}

/// nvidia-smi writes `[N/A]`, `N/A` or `[Not Supported]` for figures a GPU does not have.
fn known(field: &str) -> Option<&str> {
    (!field.is_empty() && !field.starts_with('[') && field != "N/A").then_some(field)
}

fn number(field: &str) -> Option<f64> {
    known(field)?.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gpu_list_is_read_with_memory_in_bytes() {
        let output = "NVIDIA GeForce RTX 3090, 24576, 535.104.05\nTesla T4, 15360, 535.104.05\n";
        let gpus = parse_gpu_list(output);
        assert_eq!(gpus.len(), 2);
        assert_eq!(gpus[0].model, "NVIDIA GeForce RTX 3090");
        assert_eq!(gpus[0].vram_bytes, 24576 * MIB);
        assert_eq!(gpus[0].driver.as_deref(), Some("535.104.05"));
        assert_eq!(gpus[1].model, "Tesla T4");
    }

    #[test]
    fn a_gpu_name_with_commas_is_kept_whole_and_unknown_fields_are_empty() {
        let gpus = parse_gpu_list("Odd, Name GPU, [N/A], [N/A]\n\ngarbage\n");
        assert_eq!(gpus.len(), 1);
        assert_eq!(gpus[0].model, "Odd, Name GPU");
        assert_eq!(gpus[0].vram_bytes, 0);
        assert_eq!(gpus[0].driver, None);
    }

    #[test]
    fn the_cuda_version_comes_from_the_header() {
        let header = "Tue Nov 25 10:00:00 2025\n\
            +---------------------------------------------------------------------------------------+\n\
            | NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |\n";
        assert_eq!(parse_cuda_version(header).as_deref(), Some("12.2"));
        assert_eq!(parse_cuda_version("| CUDA Version: 12.8|\n").as_deref(), Some("12.8"));
        assert_eq!(parse_cuda_version("| CUDA Version: N/A |"), None);
        assert_eq!(parse_cuda_version("No devices were found"), None);
    }

    #[test]
    fn live_figures_are_read_and_unsupported_ones_are_zero() {
        let live = parse_gpu_live("45, 67, 1234\n[N/A], [Not Supported], 100\n");
        assert_eq!(live.len(), 2);
        assert_eq!(live[0], GpuLive { utilisation_percent: 45.0, temperature_c: 67.0, vram_used_bytes: 1234 * MIB });
        assert_eq!(live[1], GpuLive { utilisation_percent: 0.0, temperature_c: 0.0, vram_used_bytes: 100 * MIB });
    }

    #[tokio::test]
    async fn without_nvidia_smi_there_are_no_gpus() {
        if nvidia_smi().is_some() {
            eprintln!("nvidia-smi is installed here: skipping the no-GPU check");
            return;
        }
        assert!(gpus().await.is_empty());
        assert!(live().await.is_empty());
    }
}
