//! The integration tests, one binary: the real executable driven through both protocols, the
//! TikTok client against wiremock and hostile servers, captures against the simulated API, faults,
//! kills and fuzzing. One binary links once, and `cargo test --test it MODULE::` runs one part.

mod ads_cap;
mod bad_input;
mod budget;
mod capture;
mod client;
mod common;
mod conformance;
mod everything;
mod extras;
mod faults;
mod fuzz;
mod hostile;
mod kill;
mod ledger;
mod module_graph;
mod protocol;
mod protocol_messages;
mod reconcile;
mod records;
mod refused;
mod reports;
mod rules;
mod spec_validation;
mod stop;
mod time_zones;
mod tls;
