//! The Pictor dashboard: one Leptos app rendered on the server and hydrated in the browser.

pub mod app;
#[cfg(feature = "ssr")]
pub mod auth;
pub mod components;
pub mod error;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ports;

pub use app::{shell, App};
pub use error::AppError;
