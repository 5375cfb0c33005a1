//! The lifecycles of jobs, tasks and attempts as types: every state is named once here, and compared, stored and
//! shown through these enums (their text, in the database and in JSON, is the lower-case name).

use serde::{Deserialize, Serialize};

/// Defines a state enum with its stored text, parsing and `Display`.
macro_rules! states {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every state, in lifecycle order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the database and sent in JSON.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The state a stored text names; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

states! {
    /// A job: `queued → active → completed | failed | cancelled`, `paused` while its escrow is dry.
    JobState {
        Queued => "queued",
        Active => "active",
        /// No new tasks are handed out until its owner's credit (or budget) allows.
        Paused => "paused",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

impl JobState {
    /// Still going: its tasks may be leased or finish.
    pub fn is_running(self) -> bool {
        matches!(self, JobState::Queued | JobState::Active | JobState::Paused)
    }
}

states! {
    /// A task: `queued → leased → uploaded | verifying → verified`; back to `queued` on a lost lease or a failed
    /// attempt while attempts remain, else `failed`; `cancelled` with its job.
    TaskState {
        Queued => "queued",
        /// A worker holds it (and keeps the lease with progress reports).
        Leased => "leased",
        /// Its outputs are in and accepted without a check.
        Uploaded => "uploaded",
        /// Its outputs wait for checkers' verdicts.
        Verifying => "verifying",
        /// Checkers re-rendered crops of it and agreed.
        Verified => "verified",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}

impl TaskState {
    /// Its result is accepted (paid, counted, served to the creator).
    pub fn is_done(self) -> bool {
        matches!(self, TaskState::Uploaded | TaskState::Verified)
    }

    /// Its owner may render it again ("Render again").
    pub fn can_rerender(self) -> bool {
        matches!(self, TaskState::Failed | TaskState::Uploaded | TaskState::Verified)
    }

    /// Still to render: waiting in the queue or rendering now.
    pub fn is_pending(self) -> bool {
        matches!(self, TaskState::Queued | TaskState::Leased)
    }
}

states! {
    /// How one attempt at a task ended (or `running` while it goes on).
    AttemptOutcome {
        Running => "running",
        Uploaded => "uploaded",
        Verified => "verified",
        /// Checkers found its result bad (or its worker was caught on another task of the job).
        Rejected => "rejected",
        Failed => "failed",
        /// Its lease ran out without a report.
        Expired => "expired",
        Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_text_and_json() {
        for state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()), Some(*state));
            assert_eq!(serde_json::to_string(state).expect("json"), format!("\"{state}\""));
        }
        for state in JobState::ALL {
            assert_eq!(JobState::parse(state.as_str()), Some(*state));
            assert_eq!(serde_json::from_str::<JobState>(&format!("\"{state}\"")).expect("json"), *state);
        }
        for outcome in AttemptOutcome::ALL {
            assert_eq!(AttemptOutcome::parse(outcome.as_str()), Some(*outcome));
        }
        assert_eq!(TaskState::parse("Queued"), None);
        assert_eq!(JobState::parse(""), None);
    }

    #[test]
    fn what_each_state_allows() {
        assert!(TaskState::Verified.is_done() && TaskState::Uploaded.is_done() && !TaskState::Verifying.is_done());
        assert!(TaskState::Failed.can_rerender() && !TaskState::Leased.can_rerender());
        assert!(JobState::Paused.is_running() && !JobState::Completed.is_running());
    }
}
