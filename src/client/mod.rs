//! The one TikTok client of the process. It owns the HTTP connection pool (reqwest, rustls), the
//! `Access-Token` header, the shared rate budget ([`limiter`]), retries with backoff, envelope
//! decoding (`code`, `message`, `request_id`, `data`), the code table ([`codes`]) and
//! pagination by `page_info`. Stream code hands it a path and parameters and gets records back;
//! it never sees HTTP. Every error text that leaves this module has the secrets scrubbed out.
//!
//! This module is the face: what the rest of the crate imports. Its children own the parts, and
//! none imports from this file: `options` (the knobs), `exchange` ([`TikTokClient`], its
//! requests, the retry loop and one HTTP exchange), `transport` (the ads-throttle header,
//! redirect, certificate and transport errors), `envelope` (an answer decoded into `data` or a
//! classified error), `pages` (paging a list endpoint and its guards) and `budget` (the run's
//! one give-up budget, and the paths whose daily quota is spent).

mod budget;
pub(crate) mod codes;
mod envelope;
mod exchange;
pub mod limiter;
mod options;
mod pages;
mod transport;

pub use envelope::decode_data;
pub(crate) use envelope::from_raw;
pub(crate) use exchange::Params;
pub use exchange::{ClientStats, TikTokClient};
pub use options::ClientOptions;
pub use pages::{parse_page, Page, Paging};
