//! `source-tiktok-marketing`: captures TikTok for Business (Marketing API v1.3) data for Estuary
//! Flow and Airbyte. See README.md for the map of modules.

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
