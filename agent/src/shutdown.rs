//! Ctrl-C and SIGTERM (systemd, `docker stop`) as one awaitable event: the worker's cue to go offline and exit.

use std::io;

/// Handlers are installed by [`listen`], so a signal that arrives while the agent is busy is not lost
/// (and does not kill the process before it can say goodbye).
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

pub fn listen() -> io::Result<Signals> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }
    #[cfg(not(unix))]
    {
        Ok(Signals {})
    }
}

impl Signals {
    /// Waits for the next signal and names it.
    pub async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "Ctrl-C",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
