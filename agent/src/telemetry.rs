//! Logs with `tracing` on stderr (through the [`Terminal`]); the filter comes from `RUST_LOG`, default `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::terminal::Terminal;

pub fn init(terminal: &Terminal) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // Colour codes would only clutter a log file or a test's captured output.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(terminal.clone())
        .try_init();
}
