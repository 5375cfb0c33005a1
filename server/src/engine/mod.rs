//! The task engine's shared machinery (every workload's): what a committed transition changed, and the one place
//! that tells the world about it.

pub mod changes;
