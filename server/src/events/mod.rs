//! Typed events: published on an in-process bus, sampled from the database, streamed to browsers over SSE.

pub mod bus;
pub mod sampler;
pub mod sse;

pub use bus::EventBus;
