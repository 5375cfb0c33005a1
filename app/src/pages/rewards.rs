//! Rewards: Everything you have earned, and where it goes next.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::empty_state::EmptyState;

const UPCOMING: &[&str] = &[
    "Earnings per worker and per day, and weekly checker epochs.",
    "Points, the leaderboard, and payout requests to your wallet.",
];

#[component]
pub fn RewardsPage() -> impl IntoView {
    view! {
        <Title text="Rewards" />
        <EmptyState title="Rewards" summary="Everything you have earned, and where it goes next." upcoming=UPCOMING />
    }
}
