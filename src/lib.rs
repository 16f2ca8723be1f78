//! `source-tiktok-marketing`: captures TikTok for Business (Marketing API v1.3) data for Estuary
//! Flow and Airbyte. See README.md for the map of modules.
//!
//! Items are `pub(crate)` by default and the `unreachable_pub` lint keeps them so: a module that
//! is not part of the public surface is `pub(crate) mod`, and any `pub` inside it is flagged.
//! What is `pub` is exported on purpose, for two users outside the library:
//!
//! - the binary (`src/main.rs`): [`protocol`] (the Flow and Airbyte front ends, the emitter's
//!   `write_line`, the Airbyte log switch), [`demo`], [`error`], [`logging`], [`scrub`] (the
//!   writer every log line passes through) and [`shutdown`];
//! - the integration tests (`tests/it/`), which also drive [`config`] (`parse`, `Config`),
//!   [`protocol::RunOptions`], [`registry`] (the stream table, `catalog`, `resolve`, the report
//!   vocabulary in `registry::metrics`), [`client`] (the HTTP client and its options, page parsing, the
//!   throttle policy), [`check`], [`clock`] and a few pure parts of [`capture`]: `record`
//!   (record shaping), `state` (`BindingState`), `advertisers`, and from `report` the query
//!   builders (`filtering`, `params`, `REPORT_PATH`, `PAGE_SIZE`, `BuyingScope`,
//!   `totals_window`).
//!
//! Types that appear in the signatures of those items are `pub` too (the compiler requires it);
//! everything else stays inside the crate.

pub mod capture;
pub mod check;
pub mod client;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod logging;
pub mod protocol;
pub mod registry;
pub mod scrub;
pub mod shutdown;
