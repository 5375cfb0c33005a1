//! Rewards: what the viewer's workers and checkers earned (per node and per day), the epochs that share out the
//! checker pool, points and the leaderboard, and payouts to a wallet.

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::ledger::RewardsOverview;
use pictor_core::time::{format_duration, format_utc};
use pictor_core::workers::format_credits;

use crate::error::AppError;

#[server]
pub async fn load_rewards() -> Result<RewardsOverview, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.rewards(&viewer).await)
}

#[server]
pub async fn request_payout(amount: String, address: String) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.request_payout(&viewer, &amount, &address).await)
}

#[component]
pub fn RewardsPage() -> impl IntoView {
    let payout = ServerAction::<RequestPayout>::new();
    let rewards = Resource::new(move || payout.version().get(), |_| load_rewards());
    view! {
        <Title text="Rewards" />
        <section class="page-head">
            <h1>"Rewards"</h1>
            <p class="muted">
                "Workers earn for every accepted frame; checkers share the checker pool at the end of each epoch."
            </p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                rewards
                    .get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(rewards) => view! { <RewardsBody rewards payout /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn RewardsBody(rewards: RewardsOverview, payout: ServerAction<RequestPayout>) -> impl IntoView {
    let by_day = rewards.by_day.clone();
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let today = js_sys::Date::now() as i64;
            let days = crate::components::daily_chart::fill_days(&by_day, today, 30);
            crate::components::daily_chart::draw_daily("earnings-chart", "Earned", &days);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &by_day;
    });
    let points = rewards.points;
    let problem = move || payout.value().get().and_then(Result::err).map(|error| error.to_string());
    view! {
        <section class="panel" data-testid="rewards-summary">
            <div class="kpis">
                <div class="kpi">
                    <span class="kpi-label">"Earnings available"</span>
                    <span class="kpi-value" data-testid="rewards-earnings">{format_credits(rewards.earnings_micro)}</span>
                    {(rewards.held_micro > 0)
                        .then(|| {
                            view! {
                                <span class="muted small" data-testid="rewards-held">
                                    {format!(
                                        "of which {} paid with welcome credits: not withdrawable",
                                        format_credits(rewards.held_micro),
                                    )}
                                </span>
                            }
                        })}
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Payouts pending"</span>
                    <span class="kpi-value">{format_credits(rewards.payouts_pending_micro)}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Points"</span>
                    <span class="kpi-value" data-testid="rewards-points">{points.total().to_string()}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Checker pool now"</span>
                    <span class="kpi-value">{format_credits(rewards.checker_pool_micro)}</span>
                </div>
            </div>
            <p class="note">
                {format!(
                    "Epochs last {}; the current one ends {} UTC.",
                    format_duration(rewards.epoch_ms),
                    format_utc(rewards.next_epoch_at_ms)
                )}
            </p>
            <h2>"Earnings, last 30 days"</h2>
            <div id="earnings-chart" class="chart" data-testid="earnings-chart"></div>
        </section>
        <section class="panel stack" data-testid="earnings-by-node">
            <h2>"By worker and checker"</h2>
            {if rewards.by_node.is_empty() {
                view! { <p class="muted">"No workers or checkers yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows">
                        {rewards
                            .by_node
                            .iter()
                            .map(|(_, name, kind, micro)| {
                                view! {
                                    <li class="row" data-testid="node-earnings">
                                        <span class="badge">{kind.clone()}</span>
                                        <span class="grow">{name.clone()}</span>
                                        <span>{format!("{} credits", format_credits(*micro))}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
        <section class="panel stack" data-testid="epochs">
            <h2>"Epochs"</h2>
            {if rewards.epochs.is_empty() {
                view! { <p class="muted">"No epoch has ended yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows">
                        {rewards
                            .epochs
                            .iter()
                            .map(|epoch| {
                                view! {
                                    <li class="row" data-testid="epoch">
                                        <span class="muted">{format!("#{} · ended {} UTC", epoch.id, format_utc(epoch.ended_at_ms))}</span>
                                        <span class="grow">
                                            {format!(
                                                "{} credits shared over {} agreeing verdicts and AI checks",
                                                format_credits(epoch.distributed_micro),
                                                epoch.verdicts
                                            )}
                                        </span>
                                        <span data-testid="epoch-mine">{format!("yours: {}", format_credits(epoch.mine_micro))}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
        </section>
        <section class="panel stack" data-testid="points">
            <h2>"Points and leaderboard"</h2>
            <p class="muted">
                {format!(
                    "Yours: {} for completed jobs, {} for accepted frames, {:.1} for online hours × performance, {} for agreeing verdicts.",
                    points.creator,
                    points.worker_tasks,
                    points.worker_online,
                    points.checker
                )}
            </p>
            <ol class="rows leaderboard" data-testid="leaderboard">
                {rewards
                    .leaderboard
                    .iter()
                    .map(|row| {
                        view! {
                            <li class="row">
                                <span class="badge">{format!("#{}", row.rank)}</span>
                                <span class="grow">{row.name.clone()}</span>
                                <span>{format!("{} points", row.points)}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        </section>
        <section class="panel stack" data-testid="payouts">
            <h2>"Payouts"</h2>
            <ActionForm action=payout attr:class="inline-form">
                <label for="payout-amount">"Pay out"</label>
                <input id="payout-amount" name="amount" size="8" placeholder="credits" data-testid="payout-amount" />
                <input
                    name="address"
                    size="40"
                    placeholder="0x… Aptos address"
                    value=rewards.wallet_address.clone().unwrap_or_default()
                    data-testid="payout-address"
                />
                <button class="button" type="submit" data-testid="payout-button">"Request payout"</button>
            </ActionForm>
            <p class="form-error" role="alert" data-testid="payout-error">{problem}</p>
            <ul class="rows">
                {rewards
                    .payouts
                    .iter()
                    .map(|payout| {
                        view! {
                            <li class="row" data-testid="payout">
                                <span class="muted">{format_utc(payout.created_at_ms)}</span>
                                <span class="grow ellipsis">
                                    {format!("{} credits to {}", format_credits(payout.amount_micro), payout.address)}
                                </span>
                                <span class=format!("badge payout-{}", payout.state)>{payout.state.clone()}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
