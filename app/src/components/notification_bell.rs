//! The bell in the top bar: how many of the viewer's notifications are unread, kept live over server-sent events,
//! linking to them on the Credit page.

use leptos::prelude::*;
#[cfg(feature = "hydrate")]
use pictor_core::events::Event;

use crate::error::AppError;

#[server]
pub async fn unread_notifications() -> Result<i64, AppError> {
    let viewer = crate::auth::require_viewer()?;
    crate::error::answer(crate::auth::ledger()?.unread_notifications(&viewer).await)
}

/// What the badge says: the count, capped so it stays small.
fn badge_text(unread: i64) -> String {
    if unread > 99 {
        "99+".to_string()
    } else {
        unread.to_string()
    }
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    let loaded = Resource::new(|| (), |_| unread_notifications());
    // Set by events once they arrive; until then the count the page was served with stands.
    let live = RwSignal::new(None::<i64>);

    Effect::new(move |_| {
        #[cfg(not(feature = "hydrate"))]
        let _ = live;
        #[cfg(feature = "hydrate")]
        crate::components::live_events::follow_events("notifications", move |event| match event {
            Event::Notifications(count) => live.try_set(Some(count.unread)).is_none(),
            _ => true,
        });
    });

    view! {
        <Suspense fallback=|| ()>
            {move || {
                loaded
                    .get()
                    .and_then(Result::ok)
                    .map(|served| {
                        let unread = move || live.get().unwrap_or(served);
                        let label = move || match unread() {
                            0 => "No unread notifications".to_string(),
                            1 => "1 unread notification".to_string(),
                            n => format!("{n} unread notifications"),
                        };
                        view! {
                            <a
                                class="bell"
                                href="/credit#notifications"
                                data-testid="notification-bell"
                                title=label
                                aria-label=label
                            >
                                <BellIcon />
                                <Show when=move || { unread() > 0 }>
                                    <span class="bell-count" data-testid="notification-count">
                                        {move || badge_text(unread())}
                                    </span>
                                </Show>
                            </a>
                        }
                    })
            }}
        </Suspense>
    }
}

/// A bell drawn in the text colour (an emoji would need a font the machine may not have).
#[component]
fn BellIcon() -> impl IntoView {
    view! {
        <svg
            class="bell-icon"
            viewBox="0 0 24 24"
            width="18"
            height="18"
            aria-hidden="true"
            fill="none"
            stroke="currentColor"
            stroke-width="2"
            stroke-linecap="round"
            stroke-linejoin="round"
        >
            <path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9" />
            <path d="M10.3 21a1.94 1.94 0 0 0 3.4 0" />
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_badge_stays_small() {
        assert_eq!(badge_text(3), "3");
        assert_eq!(badge_text(99), "99");
        assert_eq!(badge_text(250), "99+");
    }
}
