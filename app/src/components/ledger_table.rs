//! The ledger as a table: when, what, how much (signed, from the viewer's side), and about which job or node.

use leptos::prelude::*;
use pictor_core::ledger::LedgerEntry;
use pictor_core::workers::format_credits;

/// What a ledger entry's kind is called on the page.
pub fn kind_label(kind: &str) -> &'static str {
    match kind {
        "welcome" => "Welcome credits",
        "grant" => "Grant",
        "payment" => "Payment",
        "escrow" => "Job budget reserved",
        "refill" => "Job budget topped up",
        "refund" => "Job budget refunded",
        "pay_worker" => "Worker paid",
        "pay_pool" => "Checker pool share",
        "clawback" => "Taken back (rejected result)",
        "epoch" => "Checker pool share-out",
        "payout_hold" => "Payout requested",
        "payout_paid" => "Payout sent",
        "payout_returned" => "Payout returned",
        _ => "Transfer",
    }
}

/// `+1.5`, `-0.25`, or `0.1` for movements between the viewer's own accounts.
pub fn signed(micro: i64, amount: i64) -> String {
    match micro.signum() {
        1 => format!("+{}", format_credits(micro)),
        -1 => format_credits(micro),
        _ => format_credits(amount),
    }
}

#[component]
pub fn LedgerTable(entries: Vec<LedgerEntry>) -> impl IntoView {
    if entries.is_empty() {
        return view! { <p class="muted" data-testid="ledger-empty">"No movements of this kind yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="ledger" data-testid="ledger-table">
                <thead>
                    <tr>
                        <th>"Time (UTC)"</th>
                        <th>"What"</th>
                        <th class="number">"Credits"</th>
                        <th>"About"</th>
                    </tr>
                </thead>
                <tbody>
                    {entries
                        .into_iter()
                        .map(|entry| {
                            let about = match (entry.job_id, entry.task_id) {
                                (Some(job), Some(task)) => format!("job {job}, task {task}"),
                                (Some(job), None) => format!("job {job}"),
                                _ => entry.memo.clone(),
                            };
                            let direction = match entry.signed_micro.signum() {
                                1 => "in",
                                -1 => "out",
                                _ => "moved",
                            };
                            view! {
                                <tr data-testid="ledger-row" data-kind=entry.kind.clone()>
                                    <td class="muted">{pictor_core::time::format_utc(entry.created_at_ms)}</td>
                                    <td>{kind_label(&entry.kind)}</td>
                                    <td class=format!("number {direction}")>{signed(entry.signed_micro, entry.amount_micro)}</td>
                                    <td class="muted ellipsis">{about}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_show_their_direction() {
        assert_eq!(signed(1_500_000, 1_500_000), "+1.5");
        assert_eq!(signed(-250_000, 250_000), "-0.25");
        assert_eq!(signed(0, 100_000), "0.1");
        assert_eq!(kind_label("pay_worker"), "Worker paid");
    }
}
