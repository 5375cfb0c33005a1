//! Interactive inference goes first: while AI requests run on this worker, it leases no new render task (a render
//! already running carries on), so a caller's tokens do not wait behind a Blender job for the CPU or GPU.

use tokio::sync::watch;

/// How many AI requests are running now, shared by the model link and the render loop.
#[derive(Clone)]
pub struct AiActivity {
    running: watch::Sender<usize>,
}

impl Default for AiActivity {
    fn default() -> Self {
        Self { running: watch::Sender::new(0) }
    }
}

/// Held while one request runs.
pub struct Running(watch::Sender<usize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|count| *count = count.saturating_sub(1));
    }
}

impl AiActivity {
    /// Marks a request as running until the returned guard is dropped.
    pub fn start(&self) -> Running {
        self.running.send_modify(|count| *count += 1);
        Running(self.running.clone())
    }

    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Waits until no AI request runs (at once when none does).
    pub async fn idle(&self) {
        let mut watching = self.running.subscribe();
        let _ = watching.wait_for(|count| *count == 0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn renders_wait_while_a_request_runs_and_go_on_when_it_ends() {
        let activity = AiActivity::default();
        activity.idle().await;
        let first = activity.start();
        let second = activity.start();
        assert_eq!(activity.running(), 2);
        let waiting = tokio::spawn({
            let activity = activity.clone();
            async move { activity.idle().await }
        });
        drop(first);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one request still runs");
        drop(second);
        tokio::time::timeout(Duration::from_secs(1), waiting).await.expect("idle once both ended").expect("task");
    }
}
