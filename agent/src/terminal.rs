//! The terminal: logs scroll on stderr above indicatif's spinners and status line, which hide themselves when
//! stderr is not a terminal (services, tests) so that only the logs remain.

use std::io::{self, Write};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};
use tracing_subscriber::fmt::MakeWriter;

#[derive(Clone)]
pub struct Terminal {
    bars: MultiProgress,
}

impl Terminal {
    pub fn stderr() -> Self {
        Self { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) }
    }

    /// A spinner for one long step (a benchmark render); finish it with `finish_and_clear`.
    pub fn spinner(&self, message: String) -> ProgressBar {
        self.line("{spinner} {msg} ({elapsed})", message)
    }

    /// The one-line status at the bottom; its message is replaced as the worker's state changes.
    pub fn status_line(&self) -> ProgressBar {
        self.line("{spinner} {msg}", String::new())
    }

    fn line(&self, template: &str, message: String) -> ProgressBar {
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner());
        // Cleared when dropped: a worker stopping mid-wait leaves no stale status behind.
        let bar =
            ProgressBar::new_spinner().with_style(style).with_message(message).with_finish(ProgressFinish::AndClear);
        let bar = self.bars.add(bar);
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Removes every bar, so that a final message stands alone.
    pub fn clear(&self) {
        let _ = self.bars.clear();
    }
}

/// Log lines are written with the bars lifted out of the way, so they never tear the status line.
impl<'a> MakeWriter<'a> for Terminal {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter { bars: self.bars.clone() }
    }
}

pub struct LogWriter {
    bars: MultiProgress,
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // tracing's formatter hands over one whole event per call: write it in one piece.
        self.bars.suspend(|| io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
