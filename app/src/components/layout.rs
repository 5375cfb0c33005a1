//! The dashboard frame: sidebar, top bar and the routed page in the middle.

use leptos::prelude::*;
use leptos_router::components::Outlet;

use super::notification_bell::NotificationBell;
use super::sidebar::Sidebar;
use super::theme_toggle::ThemeToggle;
use super::user_menu::UserMenu;

/// Frame around every signed-in page. On narrow screens the sidebar becomes a drawer.
#[component]
pub fn Layout() -> impl IntoView {
    let (menu_open, set_menu_open) = signal(false);
    view! {
        <div class="shell" class:menu-open=move || menu_open.get()>
            <Sidebar on_navigate=Callback::new(move |_| set_menu_open.set(false)) />
            <div class="main">
                <header class="topbar">
                    <button
                        class="icon-button menu-button"
                        aria-label="Open menu"
                        on:click=move |_| set_menu_open.update(|open| *open = !*open)
                    >
                        "☰"
                    </button>
                    <div class="topbar-title">"Pictor"</div>
                    <div class="topbar-actions">
                        <NotificationBell />
                        <ThemeToggle />
                        <UserMenu />
                    </div>
                </header>
                <main class="content">
                    <Outlet />
                </main>
            </div>
            <div class="scrim" on:click=move |_| set_menu_open.set(false)></div>
        </div>
    }
}
