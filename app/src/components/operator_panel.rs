//! For the network's operators: grant credit to an account, and settle the payouts users asked for.

use leptos::prelude::*;
use pictor_core::ledger::Payout;
use pictor_core::workers::format_credits;

use crate::error::AppError;

#[server]
pub async fn grant_credit(user: i64, amount: String, memo: String) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.grant(&viewer, user, &amount, &memo).await)
}

#[server]
pub async fn load_requested_payouts() -> Result<Vec<Payout>, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.requested_payouts(&viewer).await)
}

#[server]
pub async fn decide_payout(payout: i64, paid: bool, reference: String) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.decide_payout(&viewer, payout, paid, &reference).await)
}

#[component]
pub fn OperatorPanel() -> impl IntoView {
    let grant = ServerAction::<GrantCredit>::new();
    let decide = ServerAction::<DecidePayout>::new();
    let payouts = Resource::new(move || decide.version().get(), |_| load_requested_payouts());
    let granted = move || match grant.value().get() {
        Some(Ok(())) => Some("Granted.".to_string()),
        Some(Err(error)) => Some(error.to_string()),
        None => None,
    };
    view! {
        <section class="panel stack" data-testid="operator-panel">
            <h2>"Operator"</h2>
            <ActionForm action=grant attr:class="inline-form">
                <label for="grant-user">"Grant to account"</label>
                <input id="grant-user" name="user" size="6" inputmode="numeric" data-testid="grant-user" />
                <input name="amount" size="8" placeholder="credits" data-testid="grant-amount" />
                <input name="memo" placeholder="note (optional)" />
                <button class="button" type="submit" data-testid="grant-button">"Grant"</button>
            </ActionForm>
            <p class="muted" role="status" data-testid="grant-result">{granted}</p>
            <h3>"Payouts waiting"</h3>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    payouts
                        .get()
                        .map(|result| match result {
                            Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                            Ok(list) if list.is_empty() => view! { <p class="muted">"None."</p> }.into_any(),
                            Ok(list) => {
                                view! {
                                    <ul class="rows">
                                        {list.into_iter().map(|payout| view! { <PayoutRow payout decide /> }).collect_view()}
                                    </ul>
                                }
                                    .into_any()
                            }
                        })
                }}
            </Suspense>
            <p class="form-error" role="alert">
                {move || decide.value().get().and_then(Result::err).map(|error| error.to_string())}
            </p>
        </section>
    }
}

#[component]
fn PayoutRow(payout: Payout, decide: ServerAction<DecidePayout>) -> impl IntoView {
    let (paid_id, rejected_id) = (payout.id.to_string(), payout.id.to_string());
    view! {
        <li class="row" data-testid="payout-waiting">
            <span class="grow">
                {format!("{} credits to {} for {}", format_credits(payout.amount_micro), payout.address, payout.user_name)}
            </span>
            <ActionForm action=decide attr:class="inline-form">
                <input type="hidden" name="payout" value=paid_id />
                <input type="hidden" name="paid" value="true" />
                <input name="reference" placeholder="transaction hash" size="14" />
                <button class="button small" type="submit">"Mark paid"</button>
            </ActionForm>
            <ActionForm action=decide attr:class="inline-form">
                <input type="hidden" name="payout" value=rejected_id />
                <input type="hidden" name="paid" value="false" />
                <input name="reference" placeholder="reason" size="10" />
                <button class="button ghost small danger" type="submit">"Reject"</button>
            </ActionForm>
        </li>
    }
}
