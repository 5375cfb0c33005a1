//! The signed-in person's Overview across roles: jobs in flight, credit, workers, checkers and AI usage today.

use serde::{Deserialize, Serialize};

use crate::ai::AiOverview;
use crate::checkers::CheckersOverview;
use crate::jobs::JobSummary;
use crate::ledger::LedgerOverview;
use crate::workers::{NodeStatus, WorkersOverview};

/// Jobs in flight the Overview lists (the rest are one click away).
pub const JOBS_SHOWN: usize = 5;

/// One person's dashboard: a figure per role, each linking to its section.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalOverview {
    /// Queued, running or paused jobs, newest first (at most [`JOBS_SHOWN`]).
    pub jobs_in_flight: Vec<JobSummary>,
    /// How many jobs are in flight in all.
    pub jobs_in_flight_total: usize,
    /// Jobs ever submitted (an empty state when none).
    pub jobs_total: usize,
    pub credit_micro: i64,
    pub reserved_micro: i64,
    pub earnings_micro: i64,
    pub workers_total: usize,
    pub workers_online: usize,
    /// What the person's workers earned since the start of today (UTC).
    pub workers_earned_today_micro: i64,
    pub checkers_total: usize,
    pub checkers_online: usize,
    pub checker_verdicts: i64,
    /// "97 %" of decided verdicts agreeing with the quorum, "—" before any.
    pub checker_agreement: String,
    pub checkers_suspended: usize,
    pub checkers_earned_micro: i64,
    /// Tokens in and out of the person's AI requests today (UTC), and what they cost.
    pub ai_tokens_today: i64,
    pub ai_spent_today_micro: i64,
    pub ai_requests_total: i64,
}

/// Counts a node as online when it is connected (asleep counts: it is there, inside its schedule).
fn connected(status: NodeStatus) -> bool {
    matches!(status, NodeStatus::Online | NodeStatus::Asleep)
}

impl PersonalOverview {
    /// Puts the sections' own overviews together; `today_ms` is the start of today (UTC).
    pub fn assemble(
        jobs: &[JobSummary],
        money: &LedgerOverview,
        workers: &WorkersOverview,
        checkers: &CheckersOverview,
        ai: &AiOverview,
        today_ms: i64,
    ) -> Self {
        let mut in_flight: Vec<JobSummary> = jobs.iter().filter(|job| job.state.is_running()).cloned().collect();
        in_flight.sort_by_key(|job| std::cmp::Reverse((job.created_at_ms, job.id)));
        let jobs_in_flight_total = in_flight.len();
        in_flight.truncate(JOBS_SHOWN);
        let mut decided = crate::checkers::CheckerCounts::default();
        for checker in &checkers.checkers {
            decided.verdicts += checker.counts.verdicts;
            decided.agreed += checker.counts.agreed;
            decided.disagreed += checker.counts.disagreed;
        }
        let today = ai.by_day.iter().filter(|day| day.day_ms >= today_ms);
        let (ai_tokens_today, ai_spent_today_micro) =
            today.fold((0, 0), |(tokens, cost), day| (tokens + day.tokens, cost + day.cost_micro));
        PersonalOverview {
            jobs_in_flight: in_flight,
            jobs_in_flight_total,
            jobs_total: jobs.len(),
            credit_micro: money.credit_micro,
            reserved_micro: money.reserved_micro,
            earnings_micro: money.earnings_micro,
            workers_total: workers.workers.len(),
            workers_online: workers.workers.iter().filter(|worker| connected(worker.status)).count(),
            workers_earned_today_micro: workers
                .earnings_by_day
                .iter()
                .filter(|(day, _)| *day >= today_ms)
                .map(|(_, micro)| micro)
                .sum(),
            checkers_total: checkers.checkers.len(),
            checkers_online: checkers.checkers.iter().filter(|checker| connected(checker.status)).count(),
            checker_verdicts: decided.verdicts,
            checker_agreement: decided.agreement(),
            checkers_suspended: checkers.checkers.iter().filter(|checker| checker.counts.suspended).count(),
            checkers_earned_micro: checkers.earned_micro,
            ai_tokens_today,
            ai_spent_today_micro,
            ai_requests_total: ai.requests,
        }
    }
}

/// The start of the UTC day `now_ms` falls in.
pub fn day_start(now_ms: i64) -> i64 {
    now_ms - now_ms.rem_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ai::DailyAiUsage;
    use crate::checkers::{CheckerCounts, CheckerSummary};
    use crate::states::JobState;

    const TODAY: i64 = 1_800_000_000_000 - 1_800_000_000_000 % 86_400_000;

    fn job(id: i64, state: JobState) -> JobSummary {
        JobSummary {
            id,
            name: format!("job {id}"),
            state,
            created_at_ms: id,
            tasks_total: 4,
            tasks_done: 1,
            tasks_failed: 0,
        }
    }

    fn checker(status: NodeStatus, agreed: i64, disagreed: i64, suspended: bool) -> CheckerSummary {
        CheckerSummary {
            id: agreed,
            name: "c".into(),
            status,
            last_seen_at_ms: None,
            hardware_brief: None,
            counts: CheckerCounts { verdicts: agreed + disagreed, agreed, disagreed, audits_passed: 0, suspended },
            earned_micro: 0,
        }
    }

    #[test]
    fn each_role_is_summed_from_its_own_section() {
        let mut jobs: Vec<JobSummary> = (1..=7).map(|id| job(id, JobState::Active)).collect();
        jobs.push(job(8, JobState::Completed));
        jobs.push(job(9, JobState::Paused));
        let money = LedgerOverview { credit_micro: 5, reserved_micro: 3, earnings_micro: 2, payouts_pending_micro: 0 };
        let workers = WorkersOverview {
            earnings_by_day: vec![(TODAY - 86_400_000, 100), (TODAY, 40)],
            ..WorkersOverview::default()
        };
        let checkers = CheckersOverview {
            checkers: vec![checker(NodeStatus::Online, 9, 1, false), checker(NodeStatus::Offline, 0, 0, true)],
            earned_micro: 7,
        };
        let ai = AiOverview {
            by_day: vec![
                DailyAiUsage { day_ms: TODAY - 86_400_000, tokens: 1_000, cost_micro: 10 },
                DailyAiUsage { day_ms: TODAY, tokens: 30, cost_micro: 3 },
            ],
            requests: 12,
            ..AiOverview::default()
        };
        let overview = PersonalOverview::assemble(&jobs, &money, &workers, &checkers, &ai, TODAY);
        let shown: Vec<i64> = overview.jobs_in_flight.iter().map(|job| job.id).collect();
        assert_eq!(shown, vec![9, 7, 6, 5, 4], "newest first, finished ones left out");
        assert_eq!((overview.jobs_in_flight_total, overview.jobs_total), (8, 9));
        assert_eq!((overview.credit_micro, overview.reserved_micro, overview.earnings_micro), (5, 3, 2));
        assert_eq!(overview.workers_earned_today_micro, 40, "yesterday's earnings are not today's");
        assert_eq!((overview.checkers_total, overview.checkers_online, overview.checkers_suspended), (2, 1, 1));
        assert_eq!((overview.checker_verdicts, overview.checker_agreement.as_str()), (10, "90 %"));
        assert_eq!((overview.ai_tokens_today, overview.ai_spent_today_micro, overview.ai_requests_total), (30, 3, 12));
    }

    #[test]
    fn a_day_starts_at_midnight_utc() {
        assert_eq!(day_start(TODAY + 5), TODAY);
        assert_eq!(day_start(TODAY), TODAY);
    }
}
