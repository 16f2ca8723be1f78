//! The integration tests, one binary: the real executable driven through both protocols, the
//! TikTok client against wiremock and hostile servers, captures against the simulated API, faults,
//! kills and fuzzing. One binary links once, and `cargo test --test it MODULE::` runs one part.

mod bad_input;
mod budget;
mod capture;
mod client;
mod common;
mod conformance;
mod extras;
mod faults;
mod fuzz;
mod kill;
mod protocol;
mod reports;
