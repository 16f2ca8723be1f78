//! The config's defaults and bounds, and TikTok's two hosts: one constant each, which the form's
//! schema (defaults, minimum, maximum and the descriptions that quote them) and the validation
//! both read, so they cannot disagree.

pub(crate) const PRODUCTION_BASE_URL: &str = "https://business-api.tiktok.com";
pub(crate) const SANDBOX_BASE_URL: &str = "https://sandbox-ads.tiktok.com";

// The defaults and bounds of the config. The form's schema (defaults, minimum, maximum and the
// descriptions that quote them) and [`parse`](super::parse) both read these constants, so they
// cannot disagree.
pub(crate) const DEFAULT_LOOKBACK_DAYS: u32 = 3;
pub(crate) const MIN_LOOKBACK_DAYS: u32 = 0;
pub(crate) const MAX_LOOKBACK_DAYS: u32 = 364;
pub(crate) const DEFAULT_INCLUDE_DELETED: bool = true;
pub(crate) const DEFAULT_ALLOW_INSECURE_HTTP: bool = false;
/// The request rate bounds. Below a tenth of a request per second a capture of even one
/// advertiser would take hours; above 100 exceeds every TikTok tier.
pub(crate) const MIN_REQUESTS_PER_SECOND: f64 = 0.1;
pub(crate) const MAX_REQUESTS_PER_SECOND: f64 = 100.0;
/// The production default: TikTok's basic tier allows 10 requests per second per app.
pub(crate) const DEFAULT_REQUESTS_PER_SECOND_PRODUCTION: f64 = 10.0;
/// The sandbox default: 27 requests a minute, within TikTok's sandbox limit of 30 per minute
/// (per endpoint), with room for the timing of a loaded network.
pub(crate) const DEFAULT_REQUESTS_PER_SECOND_SANDBOX: f64 = 0.45;
