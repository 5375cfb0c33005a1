//! Signing out reaches the streams already open: a sign-out announces the session (or, signing out everywhere,
//! the account) it ended, and each event stream opened with it closes at once instead of living on.

use std::future::Future;

use tokio::sync::broadcast;

/// A session, or all of an account's, that just ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The session whose token hashes to this.
    Session(String),
    /// Every session of this account.
    Account(i64),
}

/// Announces ended sessions to the open streams of this coordinator. Cheap to clone.
#[derive(Clone)]
pub struct SessionEnds {
    sender: broadcast::Sender<Ended>,
}

impl Default for SessionEnds {
    fn default() -> Self {
        Self::new()
    }
}

impl SessionEnds {
    pub fn new() -> Self {
        Self { sender: broadcast::channel(256).0 }
    }

    pub fn announce(&self, ended: Ended) {
        // Nobody listening (no open stream) is fine.
        let _ = self.sender.send(ended);
    }

    /// Resolves when `session` (of `account`) ends. Subscribes now, so an end announced after this call is seen.
    pub fn ended(&self, session: String, account: i64) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(Ended::Session(hash)) if hash == session => return,
                    Ok(Ended::Account(id)) if id == account => return,
                    // Lagging behind many sign-outs: stay safe and end the stream.
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                    Ok(_) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_stream_ends_with_its_session_or_its_account_only() {
        let ends = SessionEnds::new();
        let mine = ends.ended("mine".into(), 7);
        let everywhere = ends.ended("other".into(), 7);
        let stranger = ends.ended("theirs".into(), 8);
        ends.announce(Ended::Session("someone else's".into()));
        ends.announce(Ended::Session("mine".into()));
        tokio::time::timeout(Duration::from_secs(1), mine).await.expect("my session ended");
        ends.announce(Ended::Account(7));
        tokio::time::timeout(Duration::from_secs(1), everywhere).await.expect("signed out everywhere");
        assert!(tokio::time::timeout(Duration::from_millis(50), stranger).await.is_err(), "not another's");
    }
}
