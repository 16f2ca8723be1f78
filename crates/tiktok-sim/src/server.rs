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
use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::{json, Value};

use super::assets::{sandbox_refusal, AssetKind};
use super::faults::{code_message, html_body, normalize_path, throttle_message};
use super::model::{restrict, BuyingType, EntityKind, Model};
use super::report::{window_days, ReportPlan, ReportQuery};
use super::tasks::{self, TaskStore};
use super::{Fault, RecordedRequest, SimConfig};
use crate::catalog::{Level, ReportType};
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
    started: Instant,
    served: AtomicU64,
    rule_counts: Vec<AtomicU64>,
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
            rule_counts: cfg.faults.iter().map(|_| AtomicU64::new(0)).collect(),
            cfg,
            started: Instant::now(),
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

/// How the body of an answer is delivered.
#[derive(Default)]
struct Delivery {
    slow: Option<Duration>,
    drop: bool,
    truncate: bool,
    /// The answer carries `X-Tt-Ads-Throttle`: the report left out ads beyond the cap.
    ads_throttled: bool,
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

/// The fields of a JSON object body as parameters: strings as they are, numbers and booleans as
/// their JSON text, arrays and objects as compact JSON text (the form of JSON-valued query
/// parameters), nulls left out. Anything but a JSON object is TikTok's 40002.
fn body_params(body: &[u8]) -> Result<Params, ApiError> {
    let refused =
        || bad("The request body must be a JSON object (Content-Type: application/json).");
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(refused());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            v => Some((k, value_text(&v))),
        })
        .collect())
}

/// The text of a JSON value as a parameter or a CSV cell: a string unquoted, null as nothing,
/// anything else (numbers exact with `arbitrary_precision`, booleans, arrays, objects) as its
/// compact JSON text.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let n = state.served.fetch_add(1, Ordering::Relaxed) + 1;
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
        raw_path.clone()
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

    if !state.cfg.latency.is_zero() {
        tokio::time::sleep(state.cfg.latency).await;
    }

    // Faults counted per rule over the requests they match.
    let mut delivery = Delivery::default();
    let mut forced: Option<Fault> = None;
    for (rule, counter) in state.cfg.faults.iter().zip(&state.rule_counts) {
        if !rule.matches(&rel) {
            continue;
        }
        match &rule.fault {
            Fault::RateLimitStorm(d) => {
                if state.started.elapsed() < *d && forced.is_none() {
                    forced = Some(Fault::Code(40100));
                }
            }
            Fault::QueryTooLarge { .. } | Fault::NoPermission { .. } => {}
            fault => {
                let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
                if count % rule.every.max(1) as u64 != 0 {
                    continue;
                }
                match fault {
                    Fault::Slow(d) => {
                        delivery.slow = Some(delivery.slow.unwrap_or_default().max(*d))
                    }
                    Fault::DropConnection => delivery.drop = true,
                    Fault::TruncatedJson => delivery.truncate = true,
                    other => {
                        if forced.is_none() {
                            forced = Some(other.clone());
                        }
                    }
                }
            }
        }
    }

    let request_id = request_id(n, state.cfg.seed);
    let answer: Result<Result<Answered, ApiError>, u16> = match forced {
        Some(Fault::Http(status)) => Err(status),
        Some(Fault::Code(code)) => Ok(Err((
            code,
            code_message(code, params.get("advertiser_id").map(String::as_str)),
        ))),
        Some(Fault::Throttled(limit)) => Ok(Err((
            rules::TOO_FREQUENT,
            throttle_message(limit, &state.cfg.app_id),
        ))),
        _ if !rel.starts_with('/') => {
            // A known API path (unknown ones answer 404 below).
            if !is_known(&rel) {
                Err(404)
            } else if !method_allowed(&rel, &method) {
                Err(405)
            } else {
                Ok(answer_api(&state, &rel, &params, token.as_deref(), body_error).await)
            }
        }
        _ => Err(404),
    };

    if let Some(d) = delivery.slow {
        tokio::time::sleep(d).await;
    }

    let (code, response) = match answer {
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
                plain(status, ctype, body.into_bytes(), &delivery),
            )
        }
        Ok(result) => {
            delivery.ads_throttled = matches!(&result, Ok(a) if a.ads_throttled);
            match result {
                Ok(Answered {
                    data,
                    file: Some(ctype),
                    ..
                }) => (0, plain(StatusCode::OK, ctype, data, &delivery)),
                result => {
                    let (code, body) = envelope(result.map(|a| a.data), &request_id);
                    (
                        code,
                        plain(StatusCode::OK, "application/json", body, &delivery),
                    )
                }
            }
        }
    };
    tracing::trace!(path = %rel, code, "simulated TikTok API answered");
    state.record(&rel, params, code, delivery.ads_throttled);
    response
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

/// Token check, fault rules about advertisers and windows, then the endpoint. `body_error`:
/// the refusal of a `POST` body that is not a JSON object (answered by the endpoint, after the
/// checks every request gets).
async fn answer_api(
    state: &Arc<AppState>,
    rel: &str,
    params: &Params,
    token: Option<&str>,
    body_error: Option<ApiError>,
) -> Result<Answered, ApiError> {
    match token {
        None | Some("") => {
            return Err((
                40104,
                "Access token is null, you should set it in http header with key Access-Token."
                    .into(),
            ))
        }
        Some(t) if t != state.cfg.access_token => return Err((40105, code_message(40105, None))),
        _ => {}
    }
    rules::check_scope(rel, &state.cfg.missing_scopes)?;
    if let Some(quota) = state.cfg.quota {
        state.spend_quota(rel, quota)?;
    }
    for rule in &state.cfg.faults {
        if !rule.matches(rel) {
            continue;
        }
        match rule.fault {
            Fault::NoPermission { advertiser_id } if mentions_advertiser(params, advertiser_id) => {
                return Err((40001, code_message(40001, Some(&advertiser_id.to_string()))));
            }
            Fault::QueryTooLarge { max_days } if rel == REPORT_PATH => {
                let start = params.get("start_date").and_then(|d| parse_date(d));
                let end = params.get("end_date").and_then(|d| parse_date(d));
                if let (Some(s), Some(e)) = (start, end) {
                    if window_days(s, e) > max_days as i64
                        && params.get("query_lifetime").map(String::as_str) != Some("true")
                    {
                        return Err((40067, code_message(40067, None)));
                    }
                }
            }
            _ => {}
        }
    }
    let state = state.clone();
    let rel = rel.to_string();
    let params = params.clone();
    // Rendering pages is CPU work: keep it off the reactor threads.
    tokio::task::spawn_blocking(move || {
        let data = match rel.as_str() {
            "oauth2/advertiser/get/" => advertiser_get(&state, &params),
            "advertiser/info/" => advertiser_info(&state, &params),
            "campaign/get/" => entity_get(&state, EntityKind::Campaign, &params),
            "adgroup/get/" => entity_get(&state, EntityKind::AdGroup, &params),
            "ad/get/" => entity_get(&state, EntityKind::Ad, &params),
            INSTANT_PAGE_PATH => instant_page_events(&state, &params),
            PIXEL_STATS_PATH => pixel_event_stats(&state, &params),
            REPORT_PATH => return report_get(&state, &params),
            TASK_CREATE_PATH => tasks::create(&state, &params, body_error),
            TASK_CHECK_PATH => tasks::check(&state, &params),
            TASK_DOWNLOAD_PATH => return tasks::download(&state, &params),
            other => match AssetKind::from_path(other) {
                Some(kind) => asset_list(&state, kind, &params),
                None => Err((40000, format!("Unknown path {other}"))),
            },
        };
        data.map(|v| Answered::data(serde_json::to_vec(&v).unwrap_or_default()))
    })
    .await
    .unwrap_or_else(|_| Err((50000, code_message(50000, None))))
}

fn mentions_advertiser(params: &Params, id: u64) -> bool {
    let id = id.to_string();
    params.get("advertiser_id") == Some(&id)
        || params
            .get("advertiser_ids")
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|ids| {
                ids.iter()
                    .any(|x| json_id(x).as_deref() == Some(id.as_str()))
            })
}

fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
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

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    (40002, message.into())
}

fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// A JSON-valued query parameter.
fn json_param(params: &Params, name: &str) -> Result<Option<Value>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|_| bad(format!("{name}: Not a valid JSON value."))),
    }
}

fn string_list(params: &Params, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match json_param(params, name)? {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .map(Some)
            .ok_or_else(|| bad(format!("{name}: Field must be set to array of strings."))),
        Some(_) => Err(bad(format!("{name}: Field must be set to array."))),
    }
}

pub(crate) fn advertiser_param(params: &Params) -> Result<u64, ApiError> {
    let text = params
        .get("advertiser_id")
        .ok_or_else(|| bad("advertiser_id: Missing data for required field."))?;
    text.trim()
        .parse()
        .map_err(|_| bad("advertiser_id: Not a valid integer."))
}

/// `(page, page_size)` with TikTok's defaults (1, 10) and the `page_size` limit of the endpoint
/// at `path` ([`rules::PAGE_SIZE_RULES`]).
fn paging(params: &Params, path: &str) -> Result<(u64, u64), ApiError> {
    let page = match params.get("page") {
        None => 1,
        Some(p) => p
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("page: Not a valid integer."))?,
    };
    let size = match params.get("page_size") {
        None => 10,
        Some(p) => p
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("page_size: Not a valid integer."))?,
    };
    if page == 0 {
        return Err(bad("page: Must be greater than or equal to 1."));
    }
    rules::check_page_size(path, size)?;
    Ok((page, size))
}

fn page_info(page: u64, size: u64, total: usize) -> Value {
    json!({
        "page": page,
        "page_size": size,
        "total_number": total,
        "total_page": (total as u64).div_ceil(size),
    })
}

/// The index range of a page.
fn page_range(page: u64, size: u64, total: usize) -> (usize, usize) {
    let from = ((page - 1).saturating_mul(size)).min(total as u64) as usize;
    let to = (from as u64 + size).min(total as u64) as usize;
    (from, to)
}

fn known_advertiser(state: &AppState, id: u64) -> Result<&super::model::Advertiser, ApiError> {
    state
        .model
        .advertiser(id)
        .ok_or_else(|| (40001, code_message(40001, Some(&id.to_string()))))
}

fn advertiser_get(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.cfg.sandbox {
        return Err(sandbox_refusal());
    }
    let (Some(app_id), Some(secret)) = (params.get("app_id"), params.get("secret")) else {
        return Err(bad("app_id, secret: Missing data for required field."));
    };
    if *app_id != state.cfg.app_id || *secret != state.cfg.secret {
        return Err((
            40101,
            "Invalid app_id or secret. Please check the app_id and secret.".into(),
        ));
    }
    let list: Vec<Value> = state
        .model
        .advertisers
        .iter()
        .map(|a| json!({"advertiser_id": a.id.to_string(), "advertiser_name": a.name}))
        .collect();
    Ok(json!({ "list": list }))
}

fn advertiser_info(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    let ids = match json_param(params, "advertiser_ids")? {
        Some(Value::Array(ids)) => ids,
        Some(_) => return Err(bad("advertiser_ids: Field must be set to array.")),
        None => return Err(bad("advertiser_ids: Missing data for required field.")),
    };
    if ids.is_empty() {
        return Err(bad("advertiser_ids: Length must be between 1 and 100."));
    }
    if ids.len() > MAX_ADVERTISER_IDS {
        return Err((
            40011,
            format!(
                "advertiser_ids: Too many ids ({}), at most 100 per request.",
                ids.len()
            ),
        ));
    }
    let fields = string_list(params, "fields")?;
    let mut list = Vec::with_capacity(ids.len());
    for raw in &ids {
        let id = json_id(raw)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("advertiser_ids: Not a valid list of ids."))?;
        let info = state
            .model
            .advertiser_info(id)
            .ok_or_else(|| (40001, code_message(40001, Some(&id.to_string()))))?;
        list.push(match &fields {
            Some(f) => restrict(info, f),
            None => info,
        });
    }
    Ok(json!({ "list": list }))
}

fn entity_get(state: &AppState, kind: EntityKind, params: &Params) -> Result<Value, ApiError> {
    let model = &state.model;
    let adv = known_advertiser(state, advertiser_param(params)?)?;
    let path = match kind {
        EntityKind::Campaign => "campaign/get/",
        EntityKind::AdGroup => "adgroup/get/",
        EntityKind::Ad => "ad/get/",
    };
    let (page, size) = paging(params, path)?;
    let filtering = match json_param(params, "filtering")? {
        None => serde_json::Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(bad("filtering: Not a valid mapping type.")),
    };
    let fields = string_list(params, "fields")?;

    let all_status = format!("{}_ALL", kind.status_prefix());
    let not_deleted = format!("{}_NOT_DELETE", kind.status_prefix());
    let status = match filtering.get("secondary_status") {
        None => None,
        Some(Value::String(s)) if s.starts_with(kind.status_prefix()) => Some(s.clone()),
        Some(other) => {
            return Err(bad(format!(
                "filtering.secondary_status: invalid value {other}"
            )))
        }
    };
    let buying = match model.buying_types {
        crate::BuyingTypes::Documented => listed_buying_types(&filtering, size)?,
        crate::BuyingTypes::Refused if filtering.contains_key("buying_types") => {
            return Err(bad("filtering: unknown field buying_types"));
        }
        crate::BuyingTypes::Ignored | crate::BuyingTypes::Refused => BuyingType::ALL.to_vec(),
    };
    let id_set = |name: &str| -> Result<Option<Vec<u64>>, ApiError> {
        match filtering.get(name) {
            None => Ok(None),
            Some(Value::Array(v)) => v
                .iter()
                .map(|x| json_id(x).and_then(|s| s.parse().ok()))
                .collect::<Option<Vec<u64>>>()
                .map(Some)
                .ok_or_else(|| bad(format!("filtering.{name}: Not a valid list of ids."))),
            Some(_) => Err(bad(format!(
                "filtering.{name}: Field must be set to array."
            ))),
        }
    };
    let campaign_ids = id_set("campaign_ids")?;
    let adgroup_ids = id_set("adgroup_ids")?;
    let ad_ids = id_set("ad_ids")?;
    let has = |set: &Option<Vec<u64>>, id: u64| set.as_ref().is_none_or(|s| s.contains(&id));

    if let Some(fields) = &fields {
        let probe = (0..model.entity_count(adv, kind))
            .next()
            .map(|i| model.render_entity(adv, kind, i));
        if let Some(Value::Object(map)) = probe {
            if let Some(f) = fields.iter().find(|f| !map.contains_key(f.as_str())) {
                return Err(bad(format!("fields: invalid field name {f}")));
            }
        }
    }

    let selected: Vec<usize> = (0..model.entity_count(adv, kind))
        .filter(|&i| {
            let life = model.entity_life(adv, kind, i);
            let keep_status = match status.as_deref() {
                None => !life.deleted,
                Some(s) if s == all_status => true,
                Some(s) if s == not_deleted => !life.deleted,
                Some(s) => model.secondary_status(adv, kind, i) == s,
            };
            if !keep_status {
                return false;
            }
            let (c, g, a) = match kind {
                EntityKind::Campaign => (i, None, None),
                EntityKind::AdGroup => (adv.adgroups[i].campaign as usize, Some(i), None),
                EntityKind::Ad => (
                    adv.ads[i].campaign as usize,
                    Some(adv.ads[i].adgroup as usize),
                    Some(i),
                ),
            };
            let campaign = &adv.campaigns[c];
            buying.contains(&campaign.buying)
                && has(&campaign_ids, campaign.id)
                && g.is_none_or(|g| has(&adgroup_ids, adv.adgroups[g].id))
                && a.is_none_or(|a| has(&ad_ids, adv.ads[a].id))
        })
        .collect();
    let (from, to) = page_range(page, size, selected.len());
    let list: Vec<Value> = selected[from..to]
        .iter()
        .map(|&i| {
            let v = model.render_entity(adv, kind, i);
            match &fields {
                Some(f) => restrict(v, f),
                None => v,
            }
        })
        .collect();
    Ok(json!({ "list": list, "page_info": page_info(page, size, selected.len()) }))
}

// Buying types of `campaign/get/`, `adgroup/get/` and `ad/get/` (Get campaigns, portal doc
// 1739315828649986; Get ad groups, 1739314558673922; Get ads, 1735735588640770):
// `filtering.buying_types` defaults to ["AUCTION", "RESERVATION_RF"]; "RESERVATION_TOP_VIEW"
// must be asked alone, and then `page_size` is at most 100. The docs state the page limit for ad
// groups; the simulator applies the same rules to all three lists.

/// Buying types listed when `filtering.buying_types` is absent.
const DEFAULT_BUYING_TYPES: [BuyingType; 2] = [BuyingType::Auction, BuyingType::ReachFrequency];
/// The largest `page_size` of a TopView listing.
pub(crate) const TOP_VIEW_MAX_PAGE_SIZE: u64 = 100;

/// The buying types an entity list covers, or TikTok's refusal of `filtering.buying_types`.
fn listed_buying_types(
    filtering: &serde_json::Map<String, Value>,
    page_size: u64,
) -> Result<Vec<BuyingType>, ApiError> {
    let Some(value) = filtering.get("buying_types") else {
        return Ok(DEFAULT_BUYING_TYPES.to_vec());
    };
    let Value::Array(items) = value else {
        return Err(bad("filtering.buying_types: Field must be set to array."));
    };
    let mut list = Vec::with_capacity(items.len().min(BuyingType::ALL.len()));
    for item in items {
        let text = item
            .as_str()
            .ok_or_else(|| bad("filtering.buying_types: Field must be set to array of strings."))?;
        let buying = BuyingType::from_api(text)
            .ok_or_else(|| bad(format!("filtering.buying_types: invalid value {text}")))?;
        if !list.contains(&buying) {
            list.push(buying);
        }
    }
    if list.is_empty() {
        return Err(bad("filtering.buying_types: Length must be at least 1."));
    }
    if list.contains(&BuyingType::TopView) {
        if list.len() > 1 {
            return Err(bad(
                "filtering.buying_types: RESERVATION_TOP_VIEW cannot be combined with other buying types.",
            ));
        }
        if page_size > TOP_VIEW_MAX_PAGE_SIZE {
            return Err(bad(format!(
                "page_size: When filtering.buying_types is [\"RESERVATION_TOP_VIEW\"], page_size must be between 1 and {TOP_VIEW_MAX_PAGE_SIZE}."
            )));
        }
    }
    Ok(list)
}

/// A page of `dmp/custom_audience/list/`, `file/*/...`, `creative/portfolio/list/`,
/// `tt_video/list/` or `pixel/list/`: the refusals of [`Model::assets`], then the page rendered
/// by the same `render_asset`, under the endpoint's list key, with `page_info`.
fn asset_list(state: &AppState, kind: AssetKind, params: &Params) -> Result<Value, ApiError> {
    let model = &state.model;
    if kind.production_only() && model.sandbox {
        return Err(sandbox_refusal());
    }
    let adv = model.asset_access(
        advertiser_param(params)?,
        kind.production_only(),
        kind == AssetKind::Pixel,
    )?;
    let (page, size) = paging(params, kind.path())?;
    let total = model.asset_count(kind);
    let (from, to) = page_range(page, size, total);
    let list: Vec<Value> = (from..to)
        .map(|i| model.render_asset(adv, kind, i))
        .collect();
    let mut data = serde_json::Map::new();
    data.insert(kind.list_key().to_string(), Value::Array(list));
    data.insert("page_info".to_string(), page_info(page, size, total));
    Ok(Value::Object(data))
}

/// A required plain string parameter.
pub(crate) fn required(params: &Params, name: &str) -> Result<String, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(bad(format!("{name}: Missing data for required field."))),
    }
}

fn instant_page_events(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.model.sandbox {
        return Err(sandbox_refusal());
    }
    let advertiser_id = advertiser_param(params)?;
    let objective = required(params, "objective_type")?;
    let goal = required(params, "optimization_goal")?;
    let list = state
        .model
        .instant_page_events(advertiser_id, &objective, &goal)?;
    Ok(json!({ "list": list }))
}

/// `pixel_ids` must be a JSON array of strings (Airbyte 4.7.0's Python-quoted list is not JSON
/// and gets TikTok's "Field must be set to array"); `date_range` a JSON object with
/// `start_date` and `end_date` as `YYYY-MM-DD` strings. The window rules live in
/// [`Model::pixel_event_stats`].
fn pixel_event_stats(state: &AppState, params: &Params) -> Result<Value, ApiError> {
    if state.model.sandbox {
        return Err(sandbox_refusal());
    }
    let advertiser_id = advertiser_param(params)?;
    // Permission first, like the other pixel endpoints.
    state.model.asset_access(advertiser_id, true, true)?;
    let pixel_ids: Vec<String> = match params.get("pixel_ids") {
        None => return Err(bad("pixel_ids: Missing data for required field.")),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or_else(|| bad("pixel_ids: Field must be set to array of strings."))?,
            _ => return Err(bad("pixel_ids: Field must be set to array")),
        },
    };
    let range = match params.get("date_range") {
        None => return Err(bad("date_range: Missing data for required field.")),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => map,
            _ => return Err(bad("date_range: Field must be set to object")),
        },
    };
    let date = |name: &str| -> Result<NaiveDate, ApiError> {
        match range.get(name) {
            None => Err(bad(format!(
                "date_range.{name}: Missing data for required field."
            ))),
            Some(Value::String(s)) => parse_date(s)
                .ok_or_else(|| bad(format!("date_range.{name}: Not a valid date (YYYY-MM-DD)."))),
            Some(_) => Err(bad(format!("date_range.{name}: Not a valid string."))),
        }
    };
    let (start, end) = (date("start_date")?, date("end_date")?);
    let list = state
        .model
        .pixel_event_stats(advertiser_id, &pixel_ids, start, end)?;
    Ok(json!({ "list": list }))
}

/// A report over several ad accounts (`advertiser_ids`; Run a synchronous report,
/// [`rules::docs::SYNC_REPORT`]): at most [`rules::MAX_ADVERTISERS_PER_REPORT`] accounts of one
/// TikTok for Business user, BASIC or AUDIENCE reports only; `advertiser_id` is then ignored.
/// Each account's rows are those of its own query, in its own time zone (the default of
/// `multi_adv_report_in_utc_time`, the only one modelled), with `advertiser_id`, `currency` and
/// `timezone` added to the metrics; money metrics come without a decimal point (whole numbers
/// here). The ads cap counts the whole batch: over it, the answer carries the throttle header
/// (the rows are not cut as TikTok would; a client must act on the header).
fn multi_account_report(state: &AppState, params: &Params) -> Result<Answered, ApiError> {
    let ids: Vec<u64> = match json_param(params, "advertiser_ids")? {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().parse().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad("advertiser_ids: Field must be set to array of advertiser IDs."))?,
        _ => return Err(bad("advertiser_ids: Field must be set to array.")),
    };
    if ids.is_empty() || ids.len() > rules::MAX_ADVERTISERS_PER_REPORT {
        return Err(bad(format!(
            "advertiser_ids: Length must be between 1 and {}.",
            rules::MAX_ADVERTISERS_PER_REPORT
        )));
    }
    for id in &ids {
        known_advertiser(state, *id)?;
    }
    let users = state.cfg.users.max(1);
    let owner = |id: u64| state.model.advertiser(id).map(|a| a.index % users);
    if ids.iter().any(|id| owner(*id) != owner(ids[0])) {
        return Err(bad(
            "advertiser_ids: The advertisers must belong to the same TikTok for Business user.",
        ));
    }
    let (page, size) = paging(params, REPORT_PATH)?;
    let mut rows = Vec::new();
    let (mut selected, mut throttled) = (0, false);
    for id in ids {
        let mut single = params.clone();
        single.remove("advertiser_ids");
        single.insert("advertiser_id".into(), id.to_string());
        let q = parse_report_query(&single)?;
        let plan = state.model.report_plan(&q)?;
        selected += plan.selected_ads();
        throttled |= plan.ads_throttled();
        let info = state.model.advertiser_info(id).unwrap_or(Value::Null);
        for mut row in state.model.render_rows(&plan, 0, plan.len()) {
            if let Some(metrics) = row["metrics"].as_object_mut() {
                for (name, value) in metrics.iter_mut() {
                    if is_money(name) {
                        if let Some(x) = value.as_str().and_then(|t| t.parse::<f64>().ok()) {
                            *value = json!(format!("{:.0}", x));
                        }
                    }
                }
                metrics.insert("advertiser_id".into(), json!(id.to_string()));
                metrics.insert("currency".into(), info["currency"].clone());
                metrics.insert("timezone".into(), info["timezone"].clone());
            }
            rows.push(row);
        }
    }
    let (from, to) = page_range(page, size, rows.len());
    let data = json!({"list": &rows[from..to], "page_info": page_info(page, size, rows.len())});
    Ok(Answered {
        data: data.to_string().into_bytes(),
        ads_throttled: throttled || selected > state.model.ads_cap(),
        file: None,
    })
}

/// Metrics in the account's currency.
fn is_money(metric: &str) -> bool {
    matches!(
        metric,
        "spend" | "cash_spend" | "voucher_spend" | "cpc" | "cpm"
    ) || metric.starts_with("cost_per_")
        || metric.ends_with("_cost")
}

/// A boolean parameter (`true` or `false`), `default` when absent.
pub(crate) fn bool_param(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(bad(format!("{name}: Not a valid boolean: {other}"))),
    }
}

/// Parses the query parameters of a report request.
pub(crate) fn parse_report_query(params: &Params) -> Result<ReportQuery, ApiError> {
    let advertiser_id = advertiser_param(params)?;
    if let Some(st) = params.get("service_type") {
        if st != "AUCTION" {
            return Err(bad(format!(
                "service_type: {st} is not served by the simulated API (only AUCTION)."
            )));
        }
    }
    let report_type = match params.get("report_type").map(String::as_str) {
        Some("BASIC") => ReportType::Basic,
        Some("AUDIENCE") => ReportType::Audience,
        Some(other) => {
            return Err(bad(format!(
                "report_type: {other} is not one of BASIC, AUDIENCE."
            )))
        }
        None => return Err(bad("report_type: Missing data for required field.")),
    };
    let level = match params.get("data_level") {
        Some(dl) => Level::from_data_level(dl)
            .ok_or_else(|| bad(format!("data_level: invalid value {dl}")))?,
        None => return Err(bad("data_level: Missing data for required field.")),
    };
    let dimensions = string_list(params, "dimensions")?
        .ok_or_else(|| bad("dimensions: Missing data for required field."))?;
    let metrics = string_list(params, "metrics")?
        .unwrap_or_else(|| vec!["spend".into(), "impressions".into()]);
    let date = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some(d) => parse_date(d)
                .map(Some)
                .ok_or_else(|| bad(format!("{name}: Not a valid date (YYYY-MM-DD)."))),
        }
    };
    let lifetime = bool_param(params, "query_lifetime", false)?;
    let filtering = match json_param(params, "filtering")? {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => items,
        Some(_) => return Err(bad("filtering: Field must be set to array of objects.")),
    };
    Ok(ReportQuery {
        advertiser_id,
        report_type,
        level,
        dimensions,
        metrics,
        start_date: if lifetime { None } else { date("start_date")? },
        end_date: if lifetime { None } else { date("end_date")? },
        lifetime,
        filtering,
    })
}

fn report_get(state: &AppState, params: &Params) -> Result<Answered, ApiError> {
    if params.contains_key("advertiser_ids") {
        return multi_account_report(state, params);
    }
    let q = parse_report_query(params)?;
    let (page, size) = paging(params, REPORT_PATH)?;
    let key = format!("{q:?}");
    let cached = state.plans.lock().ok().and_then(|p| p.get(&key).cloned());
    let plan = match cached {
        Some(plan) => plan,
        None => {
            let plan = Arc::new(state.model.report_plan(&q)?);
            if let Ok(mut plans) = state.plans.lock() {
                if plans.len() >= PLAN_CACHE {
                    plans.clear();
                }
                plans.insert(key, plan.clone());
            }
            plan
        }
    };
    let (from, to) = page_range(page, size, plan.len());
    let list = state.model.render_rows_json(&plan, from, to);
    let mut out = Vec::with_capacity(list.len() + 100);
    out.extend_from_slice(b"{\"list\":");
    out.extend_from_slice(&list);
    out.extend_from_slice(b",\"page_info\":");
    let _ = serde_json::to_writer(&mut out, &page_info(page, size, plan.len()));
    out.push(b'}');
    Ok(Answered {
        data: out,
        ads_throttled: plan.ads_throttled(),
        file: None,
    })
}
