//! Credit: the balance (available and held in jobs' escrow), how to top up, spending per day, the full ledger with
//! filters and CSV export, notifications and the webhook they are sent to; for operators, grants and payouts.

use leptos::prelude::*;
use leptos_meta::Title;
use pictor_core::ledger::CreditView;
use pictor_core::workers::format_credits;

use crate::components::ledger_table::LedgerTable;
use crate::components::operator_panel::OperatorPanel;
use crate::error::AppError;

#[server]
pub async fn load_credit(kind: Option<String>) -> Result<CreditView, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.credit(&viewer, kind).await)
}

#[server]
pub async fn mark_notifications_read() -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.mark_notifications_read(&viewer).await)
}

#[server]
pub async fn set_webhook(url: String, secret: String) -> Result<(), AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.set_webhook(&viewer, &url, &secret).await)
}

/// The ledger's kinds a creator filters by, with their names.
pub const KINDS: [(&str, &str); 9] = [
    ("", "Everything"),
    ("welcome", "Welcome credits"),
    ("grant", "Grants"),
    ("payment", "Payments"),
    ("escrow", "Job budgets"),
    ("refill", "Budget top-ups"),
    ("refund", "Refunds"),
    ("pay_worker", "Worker payments"),
    ("payout_hold", "Payouts"),
];

#[component]
pub fn CreditPage() -> impl IntoView {
    let kind = RwSignal::new(String::new());
    let read = ServerAction::<MarkNotificationsRead>::new();
    let webhook = ServerAction::<SetWebhook>::new();
    let view = Resource::new(
        move || (kind.get(), read.version().get(), webhook.version().get()),
        |(kind, _, _)| load_credit(Some(kind)),
    );
    view! {
        <Title text="Credit" />
        <section class="page-head">
            <h1>"Credit"</h1>
            <p class="muted">"Your balance, top-ups and every movement of credit, exact to the micro-credit."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                view.get()
                    .map(|result| match result {
                        Err(error) => view! { <p class="form-error">{error.to_string()}</p> }.into_any(),
                        Ok(credit) => view! { <CreditBody credit kind read webhook /> }.into_any(),
                    })
            }}
        </Suspense>
    }
}

#[component]
fn CreditBody(
    credit: CreditView,
    kind: RwSignal<String>,
    read: ServerAction<MarkNotificationsRead>,
    webhook: ServerAction<SetWebhook>,
) -> impl IntoView {
    let overview = credit.overview;
    let spending = credit.spending_by_day.clone();
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let today = js_sys::Date::now() as i64;
            let days = crate::components::daily_chart::fill_days(&spending, today, 30);
            crate::components::daily_chart::draw_daily("spending-chart", "Spent", &days);
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &spending;
    });
    let unread = credit.notifications.iter().filter(|note| !note.read).count();
    let csv = move || {
        let kind = kind.get();
        if kind.is_empty() {
            "/api/v1/ledger.csv".to_string()
        } else {
            format!("/api/v1/ledger.csv?kind={kind}")
        }
    };
    view! {
        <section class="panel" data-testid="credit-summary">
            <div class="kpis">
                <div class="kpi">
                    <span class="kpi-label">"Available"</span>
                    <span class="kpi-value" data-testid="credit-available">{format_credits(overview.credit_micro)}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Reserved in jobs"</span>
                    <span class="kpi-value" data-testid="credit-reserved">{format_credits(overview.reserved_micro)}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Earnings"</span>
                    <span class="kpi-value" data-testid="credit-earnings">{format_credits(overview.earnings_micro)}</span>
                </div>
                <div class="kpi">
                    <span class="kpi-label">"Payouts pending"</span>
                    <span class="kpi-value">{format_credits(overview.payouts_pending_micro)}</span>
                </div>
            </div>
            <p class="note" data-testid="account-number">
                {format!("Your account number is {}: give it to the operator of this network to be granted credit. ", credit.user_id)}
                "Credit comes from the welcome gift, from the operator, or from payments confirmed by its "
                "payment provider. Submitting a job reserves its estimate (or your budget cap) in escrow; each verified "
                "frame is paid from it, and what is left comes back when the job ends."
            </p>
            <h2>"Spending, last 30 days"</h2>
            <div id="spending-chart" class="chart" data-testid="spending-chart"></div>
        </section>
        <section class="panel stack" data-testid="ledger">
            <header class="panel-head">
                <h2>"Ledger"</h2>
                <div class="row-actions">
                    <select
                        aria-label="Show"
                        data-testid="ledger-filter"
                        on:change=move |event| kind.set(event_target_value(&event))
                        prop:value=move || kind.get()
                    >
                        {KINDS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                    </select>
                    <a class="button ghost small" href=csv rel="external" download data-testid="ledger-csv">
                        "Export CSV"
                    </a>
                </div>
            </header>
            <LedgerTable entries=credit.entries.clone() />
        </section>
        <section class="panel stack" id="notifications" data-testid="notifications">
            <header class="panel-head">
                <h2>{format!("Notifications ({unread} unread)")}</h2>
                <ActionForm action=read>
                    <button class="button ghost small" type="submit" data-testid="mark-read">"Mark all read"</button>
                </ActionForm>
            </header>
            {if credit.notifications.is_empty() {
                view! { <p class="muted">"Nothing yet: finished and paused jobs and low credit show here."</p> }.into_any()
            } else {
                view! {
                    <ul class="rows">
                        {credit
                            .notifications
                            .iter()
                            .map(|note| {
                                let class = if note.read { "row notification" } else { "row notification unread" };
                                view! {
                                    <li class=class data-testid="notification">
                                        <span class="muted">{pictor_core::time::format_utc(note.created_at_ms)}</span>
                                        <span class="grow">{note.text.clone()}</span>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
                    .into_any()
            }}
            <ActionForm action=webhook attr:class="inline-form">
                <label for="webhook-url">"Also send to"</label>
                <input
                    id="webhook-url"
                    name="url"
                    placeholder="https://example.org/pictor-hook"
                    value=credit.webhook_url.clone().unwrap_or_default()
                    data-testid="webhook-url"
                />
                <input name="secret" type="password" placeholder="signing secret (16+ characters)" data-testid="webhook-secret" />
                <button class="button ghost" type="submit" data-testid="save-webhook">"Save webhook"</button>
            </ActionForm>
            <p class="muted small">
                "Each notification is POSTed as JSON, signed with HMAC-SHA256 of the body under your secret in the "
                <code>"x-pictor-signature: sha256=…"</code>
                " header, and retried until your server answers 2xx."
            </p>
            <p class="form-error" role="alert">
                {move || webhook.value().get().and_then(Result::err).map(|error| error.to_string())}
            </p>
        </section>
        {credit.is_operator.then(|| view! { <OperatorPanel /> })}
    }
}
