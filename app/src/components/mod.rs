//! Reusable pieces of the dashboard.

pub mod ai_batches;
pub mod ai_models;
pub mod ai_playground;
pub mod aptos_sign_in;
pub mod daily_chart;
pub mod empty_state;
pub mod job_list;
pub mod job_submit;
pub mod layout;
pub mod ledger_table;
pub mod live_events;
pub mod metrics_chart;
pub mod network_chart;
pub mod network_panel;
pub mod notification_bell;
pub mod operator_panel;
pub mod petra;
pub mod sidebar;
pub mod task_attempts;
pub mod task_cell;
pub mod theme_toggle;
pub mod ticker;
pub mod user_menu;
pub mod when_mounted;
pub mod worker_tasks;
