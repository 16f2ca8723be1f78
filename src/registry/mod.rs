//! The stream registry: one row per resource the connector offers.

pub mod metrics;
