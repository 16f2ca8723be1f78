//! The simulated TikTok Marketing API v1.3 for demos, benchmarks and tests: deterministic data from a seed
//! and sizes, served over HTTP on loopback with the real envelope, pagination, validation rules
//! and scriptable faults. This file owns the public configuration and handle types; the data lives
//! in `model`, `report` and `assets`, TikTok's documented rules in `rules`, the HTTP side in
//! `server` (and `tasks`, the asynchronous report tasks), the command line in `cli`.

// `pub` means the crate's public surface (the types and functions the connector's `demo` and
// `simulate` commands and its tests use, exported below on purpose); everything else is
// `pub(crate)` or narrower, and this lint keeps a stray `pub` from widening it.
#![warn(unreachable_pub)]

mod assets;
pub mod catalog;
mod cli;
mod disagree;
mod faults;
mod model;
mod report;
mod rules;
mod server;
mod tasks;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

// The public surface: what the connector's `demo` and `simulate` commands and its tests use.
pub use assets::{AssetKind, OBJECTIVE_TYPES, OPTIMIZATION_GOALS};
pub use cli::{run_cli, SimArgs};
pub use disagree::Disagreement;
pub use model::{EntityKind, Model};
pub use report::{ReportQuery, ADS_THROTTLE_HEADER};
pub use rules::Quota;

/// Everything that shapes a simulated API, grouped by what it shapes: the seed and `today` that
/// fix every generated value, how much data there is ([`DataShape`], [`AssetCounts`]), which of
/// TikTok's behaviours it shows ([`ApiBehaviour`], [`AsyncReports`]), the credentials it accepts
/// ([`Credentials`]) and what goes wrong ([`Faults`]). Every group has the defaults of
/// [`SimConfig::default`], so a test names only what it changes:
/// `SimConfig { data: DataShape { advertisers: 3, ..Default::default() }, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every generated value: the same seed and sizes give the same data.
    pub seed: u64,
    /// The simulated API's today: the last day of history and of delivery.
    pub today: chrono::NaiveDate,
    /// Ad accounts, entities and history.
    pub data: DataShape,
    /// Creative assets and pixels, per advertiser.
    pub assets: AssetCounts,
    /// TikTok's behaviours the server shows, and the deliberate departures tests use.
    pub api: ApiBehaviour,
    /// TikTok's asynchronous report tasks.
    pub async_reports: AsyncReports,
    /// The credentials the server accepts.
    pub credentials: Credentials,
    /// Injected faults and latency.
    pub faults: Faults,
    /// Keep a log of every request (see [`SimHandle::requests`]).
    pub record_requests: bool,
}

/// How much data the simulated API serves: ad accounts, their entities and history.
#[derive(Debug, Clone)]
pub struct DataShape {
    pub advertisers: usize,
    pub campaigns_per_advertiser: usize,
    pub adgroups_per_campaign: usize,
    pub ads_per_adgroup: usize,
    /// History length in days, ending at (and including) [`SimConfig::today`].
    pub days: u32,
    /// Every Nth campaign, ad group and ad (counted over the whole model) is deleted; 0 = none.
    pub deleted_every: usize,
    /// Advertisers number N, 2N, ... (1-based, in id order) run auction campaigns only; the
    /// others mix in reach & frequency and TopView campaigns (see `model`). 0 = every advertiser
    /// may have reservation campaigns.
    pub auction_only_every: usize,
    /// The TikTok for Business users the ad accounts belong to, in turn (account `i` is user
    /// `i % users`'s). A report over several accounts of different users is refused. At least 1.
    pub users: usize,
    /// Share (0 to 1) of advertisers that never deliver: their entities exist, their reports
    /// have no rows. Which ones is fixed by the seed; the count is the share rounded.
    pub idle_account_share: f64,
    /// Share (0 to 1) of days on which a delivering advertiser delivers nothing at any level,
    /// drawn per advertiser and day from the seed (so the same days stay idle when `today`
    /// moves on).
    pub idle_day_share: f64,
}

/// The creative assets and pixels of every advertiser.
#[derive(Debug, Clone)]
pub struct AssetCounts {
    /// Custom audiences per advertiser (`dmp/custom_audience/list/`).
    pub audiences_per_advertiser: usize,
    /// Library images per advertiser (`file/image/ad/search/`).
    pub images_per_advertiser: usize,
    /// Library videos per advertiser (`file/video/ad/search/`).
    pub videos_per_advertiser: usize,
    /// Music tracks per advertiser (`file/music/get/`); every third one is system music.
    pub music_per_advertiser: usize,
    /// Creative portfolios per advertiser (`creative/portfolio/list/`).
    pub portfolios_per_advertiser: usize,
    /// Authorized Spark Ads posts per advertiser (`tt_video/list/`, production only).
    pub spark_posts_per_advertiser: usize,
    /// Pixels per advertiser (`pixel/list/`, production only).
    pub pixels_per_advertiser: usize,
    /// Advertisers number N, 2N, ... (1-based, in id order) answer 40001 on every pixel
    /// endpoint; 0 = every advertiser may read its pixels.
    pub pixel_denied_every: usize,
}

/// Which of TikTok's behaviours the server shows.
#[derive(Debug, Clone)]
pub struct ApiBehaviour {
    /// Behave like `sandbox-ads.tiktok.com` (no discovery, no advertiser-level reports, no Spark
    /// Ads posts and no pixel endpoints).
    pub sandbox: bool,
    /// AUDIENCE reports with `stat_time_hour` answer 40002, like today's API.
    pub hourly_audience_refused: bool,
    /// How the server treats buying types. Anything but [`BuyingTypes::Documented`] is not
    /// TikTok: tests use it to check that the connector notices such a server.
    pub buying_types: BuyingTypes,
    /// Permission scopes the app lacks (e.g. `"Reporting"`): every request to an endpoint of
    /// such a scope answers 40001 naming it, for every advertiser (`rules::SCOPE_RULES`).
    pub missing_scopes: Vec<String>,
    /// Per-endpoint request quotas (e.g. [`rules::Quota::SANDBOX`]); `None` = unlimited.
    pub quota: Option<rules::Quota>,
    /// Report rows leave the last value of every breakdown dimension (gender `NONE`, age
    /// `AGE_55_100`, the last country, platform and province) empty, as TikTok does for
    /// deliveries it cannot attribute.
    pub empty_breakdown_values: bool,
    /// How many ads one report processes: TikTok's 20,000 most recently created ads, signalled
    /// by the `X-Tt-Ads-Throttle` response header. Tests lower it to reach it with small data.
    pub ads_cap: usize,
    /// How the server answers the metrics a report names.
    pub metrics: MetricRules,
}

/// How the simulated API answers the metrics of a report query: every name checked against
/// TikTok's Metrics page and its restrictions (`catalog`, 40002), and a limit on how many one
/// query may name (40067).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRules {
    /// A report query naming more metrics than this answers 40067 ("Your query is too large,
    /// please reduce the query size (e.g. fewer metrics or time range)"), whatever its
    /// window. TikTok states no number: the message is TikTok's, the limit is the simulator's
    /// own choice. Default [`MetricRules::DEFAULT_MAX_METRICS`].
    pub max_metrics_per_query: usize,
    /// Metrics refused beyond what TikTok's pages state, each at one data level or at every
    /// level: a query naming one answers 40002, as TikTok answers a metric it does not serve
    /// in the report ("Invalid metric fields", Run a synchronous report, portal doc
    /// 1740302848100353; error codes, doc 1737172488964097). TikTok's restrictions are not all
    /// documented and change: tests use this to stand for a metric TikTok stops serving at a
    /// level. Default none.
    pub refused: Vec<RefusedMetric>,
    /// How a 40002 for metrics is worded: TikTok's `Invalid metric fields: [...]`, naming
    /// them (the default), or a message that names none.
    pub refusal_wording: RefusalWording,
}

/// A metric the simulated API refuses (see [`MetricRules::refused`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedMetric {
    pub metric: String,
    /// The data level it is refused at; `None` = every level.
    pub level: Option<catalog::Level>,
}

/// How the simulated API words a refusal of metrics (code 40002).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RefusalWording {
    /// TikTok's wording: `Invalid metric fields: ["name", ...]`.
    #[default]
    Named,
    /// A message that names no metric (`Invalid metric fields.`), as a server may answer:
    /// the client cannot tell which metrics from the text.
    Unnamed,
}

impl MetricRules {
    /// 200: above the widest request of a stream asking a level's core, conversion and funnel
    /// metrics (about 120 names), so such streams never meet it, and well below the roughly
    /// 1,000 names of the whole Metrics page, so a client asking every group at once must
    /// split its metrics over several queries, as a client of TikTok must be ready to.
    pub const DEFAULT_MAX_METRICS: usize = 200;
}

impl Default for MetricRules {
    fn default() -> Self {
        MetricRules {
            max_metrics_per_query: Self::DEFAULT_MAX_METRICS,
            refused: Vec::new(),
            refusal_wording: RefusalWording::Named,
        }
    }
}

/// TikTok's asynchronous report tasks (`report/task/create/`, `check/`, `download/`).
#[derive(Debug, Clone)]
pub struct AsyncReports {
    /// The app is on TikTok's allowlist of asynchronous reports (Run an asynchronous report,
    /// `rules::docs::ASYNC_REPORT`: an allowlist-only feature, applied for on TikTok's
    /// Allowlist Management page). TikTok's default, `false`: `report/task/create/` answers
    /// 40001 (`rules::async_not_allowlisted`; TikTok does not document the code: the
    /// simulator's choice).
    pub allowlisted: bool,
    /// How many `report/task/check/` calls an asynchronous report task needs to finish: the
    /// first check answers `QUEUING`, the next ones `PROCESSING`, the Nth and every later one
    /// `SUCCESS` (or `FAILED`, see `task_fails`). 0 or 1: the first check says it.
    pub task_checks: u32,
    /// Asynchronous report tasks finish `FAILED` (with a `message`) instead of `SUCCESS`.
    pub task_fails: bool,
}

/// The credentials the simulated API accepts.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The `Access-Token` header every request must carry.
    pub access_token: String,
    /// The app's id and secret, which `oauth2/advertiser/get/` checks.
    pub app_id: String,
    pub secret: String,
}

/// What goes wrong, or slowly.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Added to every response.
    pub latency: Duration,
    /// The injected faults, each counted over the requests it matches.
    pub rules: Vec<FaultRule>,
    /// Rewrites of report answers that make the levels disagree (see [`Disagreement`]).
    pub disagreements: Vec<Disagreement>,
}

/// How a server treats `filtering.buying_types` in entity lists and the `buying_type` report
/// filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum BuyingTypes {
    /// As TikTok documents: lists hold auction and reach & frequency unless asked, TopView only
    /// alone; reports cover TopView only with the filter.
    #[default]
    Documented,
    /// Like a server that does not implement them (a hand-made fake API, an old proxy): lists
    /// hold every buying type whatever the filter says, reports ignore the filter and cover
    /// every buying type.
    Ignored,
    /// Like a server that does not know them and says so: a listing or report that names a
    /// buying type is refused (40002); the others hold every buying type.
    Refused,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            today: chrono::Utc::now().date_naive(),
            data: DataShape::default(),
            assets: AssetCounts::default(),
            api: ApiBehaviour::default(),
            async_reports: AsyncReports::default(),
            credentials: Credentials::default(),
            faults: Faults::default(),
            record_requests: false,
        }
    }
}

impl Default for DataShape {
    fn default() -> Self {
        DataShape {
            advertisers: 2,
            campaigns_per_advertiser: 3,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 2,
            days: 30,
            deleted_every: 5,
            auction_only_every: 0,
            users: 1,
            idle_account_share: 0.0,
            idle_day_share: 0.0,
        }
    }
}

impl Default for AssetCounts {
    fn default() -> Self {
        AssetCounts {
            audiences_per_advertiser: 7,
            images_per_advertiser: 25,
            videos_per_advertiser: 12,
            music_per_advertiser: 5,
            portfolios_per_advertiser: 3,
            spark_posts_per_advertiser: 6,
            pixels_per_advertiser: 2,
            pixel_denied_every: 4,
        }
    }
}

impl Default for ApiBehaviour {
    fn default() -> Self {
        ApiBehaviour {
            sandbox: false,
            hourly_audience_refused: true,
            buying_types: BuyingTypes::Documented,
            missing_scopes: Vec::new(),
            quota: None,
            empty_breakdown_values: false,
            ads_cap: report::ADS_CAP,
            metrics: MetricRules::default(),
        }
    }
}

impl Default for AsyncReports {
    fn default() -> Self {
        AsyncReports {
            allowlisted: false,
            task_checks: 2,
            task_fails: false,
        }
    }
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            access_token: "sim-token".to_string(),
            app_id: "sim-app".to_string(),
            secret: "sim-secret".to_string(),
        }
    }
}

/// One injected fault and which requests get it.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    pub fault: Fault,
    /// `5` = matching requests number 5, 10, 15, ... (counted per rule) get the fault.
    /// Ignored by the faults that apply to every matching request.
    pub every: u32,
    /// Paths relative to `/open_api/v1.3/` (e.g. `report/integrated/get/`); `None` = all paths.
    pub paths: Option<Vec<String>>,
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// HTTP 200 envelope with this TikTok code and a realistic message.
    Code(i64),
    /// This HTTP status with an HTML (non-JSON) body.
    Http(u16),
    /// Headers and part of the body are sent, then the connection is closed.
    DropConnection,
    /// HTTP 200 with a body cut in the middle of the JSON.
    TruncatedJson,
    /// The response is delayed by this long.
    Slow(Duration),
    /// Report requests whose window is longer than `max_days` answer 40067 (every such request).
    QueryTooLarge { max_days: u32 },
    /// Every request for this advertiser answers 40001.
    NoPermission { advertiser_id: u64 },
    /// Every request answers 40100 for this long after the server starts.
    RateLimitStorm(Duration),
    /// HTTP 200 envelope with code 40100 and the message of one of the app's limits.
    Throttled(Limit),
}

/// One of the app's rate limits, which TikTok answers with the same code (40100) and tells
/// apart in the message only (Rate limits, portal doc 1740029171730433).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Queries per second: "retry next second".
    Qps,
    /// Queries per minute: "wait 5 minutes".
    Qpm,
    /// Queries per day: "wait until 00:00:00 UTC+0".
    Qpd,
}

/// One request as the simulator saw and answered it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// Relative to `/open_api/v1.3/`, e.g. `report/integrated/get/` (the raw path when outside it).
    pub path: String,
    /// The decoded query parameters.
    pub params: BTreeMap<String, String>,
    /// The TikTok code answered, or the HTTP status for HTTP faults and unknown paths.
    pub code: i64,
    /// The answer carried `X-Tt-Ads-Throttle`: a report over the ads cap, figures incomplete.
    pub ads_throttled: bool,
}

/// A running simulated API.
pub struct SimHandle {
    pub addr: SocketAddr,
    state: Arc<server::AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// `http://127.0.0.1:PORT` (append `/open_api/v1.3/` for the API root).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request served so far, faults and unknown paths included.
    pub fn request_count(&self) -> u64 {
        self.state.request_count()
    }

    /// The request log (empty unless `record_requests`).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }

    /// The data the server serves.
    pub fn model(&self) -> &Model {
        &self.state.model
    }

    /// Stops accepting connections and waits (briefly) for in-flight responses.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Drop for SimHandle {
    /// A handle dropped without [`SimHandle::shutdown`] still stops its server.
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Starts a simulated API on `127.0.0.1` with an ephemeral port.
pub async fn spawn(cfg: SimConfig) -> std::io::Result<SimHandle> {
    spawn_on(cfg, 0).await
}

/// Starts a simulated API on `127.0.0.1:port` (0 = ephemeral).
pub async fn spawn_on(cfg: SimConfig, port: u16) -> std::io::Result<SimHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(server::AppState::new(cfg));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = server::router(state.clone());
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(err) = served {
            tracing::warn!(%err, "simulated TikTok API stopped with an error");
        }
    });
    tracing::debug!(%addr, "simulated TikTok API listening");
    Ok(SimHandle {
        addr,
        state,
        shutdown: Some(tx),
        task,
    })
}
