//! The HTTP side of the simulated API: routing of `/open_api/v1.3/...` paths, the token check,
//! parameter parsing (JSON-valued query parameters, and the JSON body of `POST` requests
//! flattened into the same parameters), the response envelope and `page_info` pagination over
//! [`Model`] data, latency, fault injection and the request log. The asynchronous report tasks
//! live in `tasks`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use futures::StreamExt;

mod entities;
mod params;
mod reports;

use entities::{
    advertiser_get, advertiser_info, asset_list, entity_get, instant_page_events, pixel_event_stats,
};
use params::body_params;
pub(crate) use params::{
    advertiser_param, bad, bool_param, json_id, parse_date, required, value_text,
};
pub(crate) use reports::parse_report_query;
use reports::report_get;

use super::assets::AssetKind;
use super::faults::{
    code_message, html_body, normalize_path, throttle_message, Delivery, FaultLayer, Injected,
};
use super::model::{EntityKind, Model};
use super::report::ReportPlan;
use super::tasks::{self, TaskStore};
use super::{Fault, RecordedRequest, SimConfig};
use crate::rules;

pub(crate) const REPORT_PATH: &str = "report/integrated/get/";
const INSTANT_PAGE_PATH: &str = "pixel/instant_page/event/";
const PIXEL_STATS_PATH: &str = "pixel/event/stats/";
/// The asynchronous report tasks: create (`POST`, JSON body), check and download (`GET`).
pub(crate) const TASK_CREATE_PATH: &str = "report/task/create/";
pub(crate) const TASK_CHECK_PATH: &str = "report/task/check/";
pub(crate) const TASK_DOWNLOAD_PATH: &str = "report/task/download/";
/// The largest request body read (a task's JSON is a few kilobytes).
const MAX_BODY: usize = 1 << 20;
const MAX_ADVERTISER_IDS: usize = 100;
/// Report plans kept for the following pages of the same query.
const PLAN_CACHE: usize = 16;

pub(crate) type ApiError = (i64, String);
pub(crate) type Params = BTreeMap<String, String>;

pub(crate) struct AppState {
    pub(crate) model: Model,
    pub(crate) cfg: SimConfig,
    served: AtomicU64,
    /// The injected faults around every endpoint.
    faults: FaultLayer,
    log: Mutex<Vec<RecordedRequest>>,
    plans: Mutex<HashMap<String, Arc<ReportPlan>>>,
    /// Per endpoint: when its accepted requests of the last minute came, and its count today.
    quota_use: Mutex<HashMap<String, (VecDeque<Instant>, u32)>>,
    /// The asynchronous report tasks created so far.
    pub(crate) tasks: Mutex<TaskStore>,
}

impl AppState {
    pub(crate) fn new(cfg: SimConfig) -> AppState {
        AppState {
            model: Model::new(&cfg),
            faults: FaultLayer::new(cfg.faults.rules.clone()),
            cfg,
            served: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            plans: Mutex::new(HashMap::new()),
            quota_use: Mutex::new(HashMap::new()),
            tasks: Mutex::new(TaskStore::default()),
        }
    }

    /// Counts one request to `path` against the per-endpoint quotas, or answers as TikTok does
    /// beyond them (code 40100; the message tells the daily quota from the per-minute one).
    /// Refused requests do not count. The simulated day never ends: a server lives for minutes.
    fn spend_quota(&self, path: &str, quota: rules::Quota) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut usage = self.quota_use.lock().unwrap_or_else(|e| e.into_inner());
        let (minute, today) = usage.entry(path.to_string()).or_default();
        while minute
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
        {
            minute.pop_front();
        }
        if *today >= quota.per_day {
            return Err((rules::TOO_FREQUENT, rules::per_day_message(quota.per_day)));
        }
        if minute.len() >= quota.per_minute as usize {
            return Err((
                rules::TOO_FREQUENT,
                rules::per_minute_message(quota.per_minute),
            ));
        }
        minute.push_back(now);
        *today += 1;
        Ok(())
    }

    pub(crate) fn request_count(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn record(&self, path: &str, params: Params, code: i64, ads_throttled: bool) {
        if self.cfg.record_requests {
            if let Ok(mut log) = self.log.lock() {
                log.push(RecordedRequest {
                    path: path.to_string(),
                    params,
                    code,
                    ads_throttled,
                });
            }
        }
    }
}

pub(crate) fn router(state: Arc<AppState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// The `data` of a successful answer, and whether the report hit the ads cap.
pub(crate) struct Answered {
    pub(crate) data: Vec<u8>,
    pub(crate) ads_throttled: bool,
    /// `Some(content type)`: `data` is the whole response body, sent without the JSON envelope
    /// (the CSV file of `report/task/download/`).
    pub(crate) file: Option<&'static str>,
}

impl Answered {
    fn data(data: Vec<u8>) -> Answered {
        Answered {
            data,
            ads_throttled: false,
            file: None,
        }
    }
}

/// The HTTP method an API path answers: `POST` (JSON body) for `report/task/create/`, `GET`
/// for the others. A `POST` to a `GET` path or any other method to `report/task/create/` gets
/// HTTP 405 with a gateway's HTML page (TikTok documents no answer for a wrong method; the
/// simulator's choice). Other methods (`HEAD`, ...) to `GET` paths are answered as `GET`, as
/// they always were.
fn method_allowed(rel: &str, method: &Method) -> bool {
    if rel == TASK_CREATE_PATH {
        method == Method::POST
    } else {
        method != Method::POST
    }
}

/// One request as the endpoints see it: its path relative to `/open_api/v1.3/` (the raw path
/// when outside it), its parameters (the query's, and the fields of a `POST`'s JSON body), its
/// token, and the refusal of a `POST` body that is not a JSON object (answered by the endpoint,
/// after the checks every request gets).
struct ApiRequest {
    rel: String,
    method: Method,
    params: Params,
    token: Option<String>,
    body_error: Option<ApiError>,
}

impl ApiRequest {
    async fn read(req: Request) -> ApiRequest {
        let raw_path = req.uri().path().to_string();
        let method = req.method().clone();
        let mut params: Params = req
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let token = req
            .headers()
            .get("Access-Token")
            .map(|v| v.to_str().unwrap_or("\u{0}").to_string());
        let rel = if raw_path.starts_with("/open_api/v1.3/") {
            normalize_path(&raw_path).to_string()
        } else {
            raw_path
        };
        // The fields of a POST's JSON body join the query's parameters (and the request log); a
        // body that is not a JSON object is refused after the token check.
        let mut body_error: Option<ApiError> = None;
        if method == Method::POST {
            match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
                Ok(bytes) => match body_params(&bytes) {
                    Ok(fields) => params.extend(fields),
                    Err(e) => body_error = Some(e),
                },
                Err(_) => body_error = Some(bad("The request body could not be read.")),
            }
        }
        ApiRequest {
            rel,
            method,
            params,
            token,
            body_error,
        }
    }
}

/// What a request is answered with: an HTTP status with a plain or HTML body (unknown paths,
/// wrong methods, HTTP faults), or TikTok's envelope around the endpoint's data or refusal.
type Answer = Result<Result<Answered, ApiError>, u16>;

/// Every request: read, delayed by the configured latency, passed through the fault layer
/// ([`FaultLayer`]: a fault may answer in the endpoint's place, slow the answer, or spoil its
/// delivery), answered by [`route`], delivered, and logged.
async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let n = state.served.fetch_add(1, Ordering::Relaxed) + 1;
    let mut request = ApiRequest::read(req).await;
    if !state.cfg.faults.latency.is_zero() {
        tokio::time::sleep(state.cfg.faults.latency).await;
    }
    let Injected {
        mut delivery,
        forced,
    } = state.faults.draw(&request.rel);
    let request_id = request_id(n, state.cfg.seed);
    let answer: Answer = match forced {
        Some(Fault::Http(status)) => Err(status),
        Some(Fault::Code(code)) => Ok(Err((
            code,
            code_message(
                code,
                request.params.get("advertiser_id").map(String::as_str),
            ),
        ))),
        Some(Fault::Throttled(limit)) => Ok(Err((
            rules::TOO_FREQUENT,
            throttle_message(limit, &state.cfg.credentials.app_id),
        ))),
        _ => route(&state, &mut request).await,
    };
    if let Some(d) = delivery.slow {
        tokio::time::sleep(d).await;
    }
    let (code, response) = respond(answer, &mut delivery, &request_id);
    tracing::trace!(path = %request.rel, code, "simulated TikTok API answered");
    state.record(&request.rel, request.params, code, delivery.ads_throttled);
    response
}

/// A known API path answered by its endpoint; HTTP 404 for unknown paths, 405 for a wrong
/// method.
async fn route(state: &Arc<AppState>, request: &mut ApiRequest) -> Answer {
    if request.rel.starts_with('/') || !is_known(&request.rel) {
        return Err(404);
    }
    if !method_allowed(&request.rel, &request.method) {
        return Err(405);
    }
    let body_error = request.body_error.take();
    Ok(answer_api(state, request, body_error).await)
}

/// The response of an answer and the code it is logged with: the TikTok code, or the HTTP
/// status for plain answers. Sets `delivery.ads_throttled` from the answer.
fn respond(answer: Answer, delivery: &mut Delivery, request_id: &str) -> (i64, Response) {
    match answer {
        Err(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = if status == StatusCode::NOT_FOUND {
                "404 page not found".to_string()
            } else {
                html_body(status.as_u16())
            };
            let ctype = if status == StatusCode::NOT_FOUND {
                "text/plain; charset=utf-8"
            } else {
                "text/html"
            };
            (
                status.as_u16() as i64,
                plain(status, ctype, body.into_bytes(), delivery),
            )
        }
        Ok(result) => {
            delivery.ads_throttled = matches!(&result, Ok(a) if a.ads_throttled);
            match result {
                Ok(Answered {
                    data,
                    file: Some(ctype),
                    ..
                }) => (0, plain(StatusCode::OK, ctype, data, delivery)),
                result => {
                    let (code, body) = envelope(result.map(|a| a.data), request_id);
                    (
                        code,
                        plain(StatusCode::OK, "application/json", body, delivery),
                    )
                }
            }
        }
    }
}

fn is_known(rel: &str) -> bool {
    matches!(
        rel,
        "oauth2/advertiser/get/"
            | "advertiser/info/"
            | "campaign/get/"
            | "adgroup/get/"
            | "ad/get/"
            | REPORT_PATH
            | INSTANT_PAGE_PATH
            | PIXEL_STATS_PATH
            | TASK_CREATE_PATH
            | TASK_CHECK_PATH
            | TASK_DOWNLOAD_PATH
    ) || AssetKind::from_path(rel).is_some()
}

/// The checks every request gets (the token, the app's scopes, the quotas, the fault rules
/// about advertisers and windows), then the endpoint. `body_error`: the refusal of a `POST`
/// body that is not a JSON object (answered by the endpoint, after those checks).
async fn answer_api(
    state: &Arc<AppState>,
    request: &ApiRequest,
    body_error: Option<ApiError>,
) -> Result<Answered, ApiError> {
    let (rel, params) = (request.rel.as_str(), &request.params);
    match request.token.as_deref() {
        None | Some("") => {
            return Err((
                40104,
                "Access token is null, you should set it in http header with key Access-Token."
                    .into(),
            ))
        }
        Some(t) if t != state.cfg.credentials.access_token => {
            return Err((40105, code_message(40105, None)))
        }
        _ => {}
    }
    rules::check_scope(rel, &state.cfg.api.missing_scopes)?;
    if let Some(quota) = state.cfg.api.quota {
        state.spend_quota(rel, quota)?;
    }
    state.faults.refusal(rel, params)?;
    let state = state.clone();
    let rel = rel.to_string();
    let params = params.clone();
    // Rendering pages is CPU work: keep it off the reactor threads.
    tokio::task::spawn_blocking(move || {
        let answered = endpoint(&state, &rel, &params, body_error)?;
        if rel != REPORT_PATH || answered.file.is_some() {
            return Ok(answered);
        }
        // The disagreement switches of the fault layer rewrite report rows after the endpoint.
        let switches = &state.cfg.faults.disagreements;
        Ok(Answered {
            data: crate::disagree::apply(switches, &state.model, &params, answered.data),
            ..answered
        })
    })
    .await
    .unwrap_or_else(|_| Err((50000, code_message(50000, None))))
}

/// The endpoint of a known path.
fn endpoint(
    state: &AppState,
    rel: &str,
    params: &Params,
    body_error: Option<ApiError>,
) -> Result<Answered, ApiError> {
    let data = match rel {
        "oauth2/advertiser/get/" => advertiser_get(state, params),
        "advertiser/info/" => advertiser_info(state, params),
        "campaign/get/" => entity_get(state, EntityKind::Campaign, params),
        "adgroup/get/" => entity_get(state, EntityKind::AdGroup, params),
        "ad/get/" => entity_get(state, EntityKind::Ad, params),
        INSTANT_PAGE_PATH => instant_page_events(state, params),
        PIXEL_STATS_PATH => pixel_event_stats(state, params),
        REPORT_PATH => return report_get(state, params),
        TASK_CREATE_PATH => tasks::create(state, params, body_error),
        TASK_CHECK_PATH => tasks::check(state, params),
        TASK_DOWNLOAD_PATH => return tasks::download(state, params),
        other => match AssetKind::from_path(other) {
            Some(kind) => asset_list(state, kind, params),
            None => Err((40000, format!("Unknown path {other}"))),
        },
    };
    data.map(|v| Answered::data(serde_json::to_vec(&v).unwrap_or_default()))
}

fn request_id(n: u64, seed: u64) -> String {
    format!(
        "{}{:010X}{:06}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        super::model::mix(n ^ seed.rotate_left(17)) & 0xFF_FFFF_FFFF,
        n % 1_000_000
    )
}

/// The envelope of an answer and its code.
fn envelope(result: Result<Vec<u8>, ApiError>, request_id: &str) -> (i64, Vec<u8>) {
    let (code, message, data) = match result {
        Ok(data) => (0, "OK".to_string(), data),
        Err((code, message)) => (code, message, b"{}".to_vec()),
    };
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"code\":");
    out.extend_from_slice(code.to_string().as_bytes());
    out.extend_from_slice(b",\"message\":");
    let _ = serde_json::to_writer(&mut out, &message);
    out.extend_from_slice(b",\"request_id\":");
    let _ = serde_json::to_writer(&mut out, request_id);
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(&data);
    out.push(b'}');
    (code, out)
}

/// A response with `body`, delivered whole, cut short, or dropped mid-way.
fn plain(status: StatusCode, ctype: &str, body: Vec<u8>, delivery: &Delivery) -> Response {
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, ctype);
    if delivery.ads_throttled {
        // TikTok names the header; its value is not documented, any value means "capped".
        builder = builder.header(super::report::ADS_THROTTLE_HEADER, "1");
    }
    let full_len = body.len();
    let built = if delivery.drop {
        // Promise the whole body, send half, pause so it reaches the client, then fail the stream:
        // hyper closes the connection mid-body.
        let half = Bytes::copy_from_slice(&body[..full_len / 2]);
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "simulated dropped connection",
            )),
        ];
        let stream = futures::stream::iter(chunks).then(|item| async move {
            if item.is_err() {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            item
        });
        builder
            .header(header::CONTENT_LENGTH, full_len)
            .body(Body::from_stream(stream))
    } else if delivery.truncate {
        let cut = body[..full_len / 2].to_vec();
        builder
            .header(header::CONTENT_LENGTH, cut.len())
            .body(Body::from(cut))
    } else {
        builder.body(Body::from(body))
    };
    built.unwrap_or_else(|_| Response::new(Body::empty()))
}
