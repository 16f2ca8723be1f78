//! Integration tests of the TikTok client (`src/client/`) and of advertiser discovery
//! (`capture::advertisers`) against a wiremock server standing in for the Marketing API v1.3.
//! Each test builds a `Config` through `config::parse` with `advanced.base_url` pointing at the
//! mock server and a client with short retry, throttle and timeout knobs, so that retries and
//! give-ups take milliseconds. Every server ends with a catch-all mock that answers HTTP 500 with
//! a body naming the unmatched request (and expects to be hit zero times), so a request the test
//! did not plan for fails with a readable message instead of a confusing one. The tests pin down
//! the exact request shape, envelope decoding, which answers are retried, giving up, pagination,
//! the wording of auth failures, timeouts, advertiser discovery and that no secret ever reaches
//! an error text, a `Debug` dump or a log line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::TryStreamExt;
use serde_json::{json, Value};
use wiremock::matchers::{any, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use source_tiktok_marketing::capture::advertisers;
use source_tiktok_marketing::capture::report;
use source_tiktok_marketing::client::limiter::ThrottlePolicy;
use source_tiktok_marketing::client::{ClientOptions, Paging, TikTokClient};
use source_tiktok_marketing::config::{self, Config};
use source_tiktok_marketing::error::{Error, ErrorClass};
use source_tiktok_marketing::registry::metrics::{Granularity, Level, ReportType};
use source_tiktok_marketing::registry::ReportSpec;

const TOKEN: &str = "canary-token-XYZ";
const APP_ID: &str = "canary-appid-7734";
const SECRET: &str = "canary-secret-QRS";
const CANARIES: [&str; 3] = [TOKEN, APP_ID, SECRET];

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn api(p: &str) -> String {
    format!("/open_api/v1.3/{p}")
}

/// A production config (app id, secret, token) whose API lives at `base_url`.
fn production(base_url: &str) -> Config {
    config::parse(&json!({
        "credentials": {
            "auth_type": "oauth2.0",
            "client_id": APP_ID,
            "client_secret": SECRET,
            "access_token": TOKEN,
        },
        "advanced": {"base_url": base_url, "requests_per_second": 100},
    }))
    .expect("valid config")
}

fn options() -> ClientOptions {
    ClientOptions {
        give_up_after: Duration::from_secs(2),
        first_retry_delay: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(20),
        throttle: ThrottlePolicy {
            first_pause: Duration::from_millis(5),
            max_pause: Duration::from_millis(20),
            minute_pause: Duration::from_millis(50),
        },
        timeout: Duration::from_secs(1),
        ..ClientOptions::default()
    }
}

fn client(server: &MockServer) -> TikTokClient {
    TikTokClient::new(&production(&server.uri()), options()).expect("client")
}

/// Mounted last: anything no other mock matched gets a 500 naming the request, and the server's
/// verification fails because this mock expects no calls.
async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(|req: &Request| {
            ResponseTemplate::new(500)
                .set_body_string(format!("no mock matched {} {}", req.method, req.url))
        })
        .with_priority(u8::MAX)
        .named("catch-all for unexpected requests")
        .expect(0)
        .mount(server)
        .await;
}

/// A TikTok envelope answered with HTTP 200.
fn envelope(code: i64, message: &str, data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "code": code,
        "message": message,
        "request_id": format!("req-{code}"),
        "data": data,
    }))
}

fn ok(data: Value) -> ResponseTemplate {
    envelope(0, "OK", data)
}

/// Answers with each template in turn, then repeats the last one.
struct Sequence {
    templates: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

fn sequence(templates: Vec<ResponseTemplate>) -> Sequence {
    Sequence {
        templates,
        next: AtomicUsize::new(0),
    }
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        self.templates[n.min(self.templates.len() - 1)].clone()
    }
}

fn query(req: &Request) -> Vec<(String, String)> {
    req.url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn query_map(req: &Request) -> BTreeMap<String, String> {
    let pairs = query(req);
    let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
    assert_eq!(
        map.len(),
        pairs.len(),
        "a parameter was sent twice: {pairs:?}"
    );
    map
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn data_of(raw: &serde_json::value::RawValue) -> Value {
    serde_json::from_str(raw.get()).expect("data is JSON")
}

// ---------------------------------------------------------------------------------------------
// 1. The exact request
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_report_request_has_the_exact_shape_tiktok_expects() {
    let server = MockServer::start().await;
    let row = json!({"dimensions": {"ad_id": "1", "stat_time_day": "2024-03-01 00:00:00"},
                     "metrics": {"spend": "20.000", "impressions": "5830"}});
    Mock::given(method("GET"))
        .and(path(api("report/integrated/get/")))
        .respond_with(ok(json!({
            "list": [row],
            "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1},
        })))
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;

    let spec = ReportSpec {
        report_type: ReportType::Basic,
        level: Level::Ad,
        granularity: Granularity::Day,
        dimensions: vec!["ad_id".into(), "stat_time_day".into()],
        metrics: vec!["spend".into(), "impressions".into()],
        filtering: Vec::new(),
        layout: source_tiktok_marketing::registry::RecordLayout::Nested,
    };
    let day = |d| NaiveDate::from_ymd_opt(2024, 3, d).unwrap();
    let filters = report::filtering(&spec, true, None);
    let params = report::params(
        &spec,
        7002238017842757633,
        Some((day(1), day(30))),
        &filters,
    );
    let client = client(&server);
    let page = client
        .page(
            report::REPORT_PATH,
            &params,
            "list",
            Paging::first(report::PAGE_SIZE),
        )
        .await
        .expect("the page");
    assert_eq!(page.records.len(), 1);
    assert_eq!(data_of(&page.records[0]), row);
    assert_eq!(page.total_pages, Some(1));

    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.method.as_str(), "GET");
    assert_eq!(req.url.path(), "/open_api/v1.3/report/integrated/get/");
    assert_eq!(
        req.headers
            .get("Access-Token")
            .and_then(|v| v.to_str().ok()),
        Some(TOKEN)
    );
    assert!(req.headers.get("Authorization").is_none());
    assert!(req.body.is_empty(), "a GET carries no body");

    let query = query_map(req);
    let keys: BTreeSet<&str> = query.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "advertiser_id",
        "service_type",
        "report_type",
        "data_level",
        "dimensions",
        "metrics",
        "start_date",
        "end_date",
        "filtering",
        "page",
        "page_size",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected);
    assert_eq!(query["advertiser_id"], "7002238017842757633");
    assert_eq!(query["service_type"], "AUCTION");
    assert_eq!(query["report_type"], "BASIC");
    assert_eq!(query["data_level"], "AUCTION_AD");
    assert_eq!(query["start_date"], "2024-03-01");
    assert_eq!(query["end_date"], "2024-03-30");
    assert_eq!(query["page"], "1");
    assert_eq!(query["page_size"], "1000");
    let as_json = |k: &str| -> Value {
        serde_json::from_str(&query[k]).unwrap_or_else(|e| panic!("{k} is not JSON: {e}"))
    };
    assert_eq!(as_json("dimensions"), json!(["ad_id", "stat_time_day"]));
    assert_eq!(as_json("metrics"), json!(["spend", "impressions"]));
    // `filter_value` is itself a JSON-array string for IN filters.
    assert_eq!(
        as_json("filtering"),
        json!([{"field_name": "ad_status", "filter_type": "IN",
                "filter_value": "[\"STATUS_ALL\"]"}])
    );
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Envelope decoding
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn the_envelope_code_decides_between_data_and_error() {
    let server = MockServer::start().await;
    let data = json!({"list": [{"campaign_id": "17"}]});
    Mock::given(path(api("ok/")))
        .respond_with(ok(data.clone()))
        .mount(&server)
        .await;
    Mock::given(path(api("partial/")))
        .respond_with(envelope(20001, "Partial success", data.clone()))
        .mount(&server)
        .await;
    Mock::given(path(api("invalid/")))
        .respond_with(envelope(40002, "Invalid metric fields: [foo].", json!({})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(api("forbidden/")))
        .respond_with(envelope(
            40001,
            "No permission to operate advertiser",
            json!({}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let client = client(&server);

    assert_eq!(data_of(&client.get("ok/", &[]).await.unwrap()), data);
    assert_eq!(data_of(&client.get("partial/", &[]).await.unwrap()), data);

    let err = client.get("invalid/", &[]).await.unwrap_err();
    let Error::Api(api_err) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api_err.code, 40002);
    assert_eq!(api_err.message, "Invalid metric fields: [foo].");
    assert_eq!(api_err.request_id.as_deref(), Some("req-40002"));
    assert_eq!(api_err.path, "invalid/");
    assert_eq!(api_err.class, ErrorClass::Fatal);
    assert_eq!(err.api_code(), Some(40002));
    let text = err.to_string();
    assert!(
        text.contains("invalid/") && text.contains("40002") && text.contains("req-40002"),
        "{text}"
    );

    let err = client.get("forbidden/", &[]).await.unwrap_err();
    let Error::Api(api_err) = &err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api_err.code, 40001);
    assert_eq!(api_err.class, ErrorClass::Permission);
    assert!(api_err.hint.is_some());
    // Neither error was retried.
    assert_eq!(received(&server).await.len(), 4);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Retry, then success
// ---------------------------------------------------------------------------------------------

/// Serves `failure` twice, then success; returns the client after the successful call.
async fn twice_then_ok(failure: ResponseTemplate) -> (TikTokClient, usize) {
    let server = MockServer::start().await;
    let data = json!({"list": [1, 2, 3]});
    Mock::given(method("GET"))
        .and(path(api("campaign/get/")))
        .respond_with(sequence(vec![failure.clone(), failure, ok(data.clone())]))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let client = client(&server);
    let got = client
        .get("campaign/get/", &[("advertiser_id", "1".into())])
        .await
        .expect("success after two failures");
    assert_eq!(data_of(&got), data);
    let count = received(&server).await.len();
    server.verify().await;
    (client, count)
}

#[tokio::test]
async fn server_errors_are_retried_until_success() {
    let failures: Vec<(&str, ResponseTemplate)> = vec![
        ("code 50000", envelope(50000, "System error", json!({}))),
        ("code 51002", envelope(51002, "Internal error", json!({}))),
        (
            "HTTP 500 with HTML",
            ResponseTemplate::new(500).set_body_raw(
                "<html><body><h1>500 Internal Server Error</h1></body></html>",
                "text/html",
            ),
        ),
        (
            "HTTP 504",
            ResponseTemplate::new(504).set_body_raw("<html>Gateway Time-out</html>", "text/html"),
        ),
        (
            "code 60001",
            envelope(60001, "System in maintenance", json!({})),
        ),
        (
            "truncated JSON",
            ResponseTemplate::new(200).set_body_raw(
                r#"{"code": 0, "message": "OK", "data": {"list": [1, 2"#,
                "application/json",
            ),
        ),
    ];
    for (what, failure) in failures {
        let (client, count) = twice_then_ok(failure).await;
        assert_eq!(count, 3, "{what}: requests");
        let stats = &client.stats;
        assert_eq!(stats.requests.load(Ordering::Relaxed), 3, "{what}");
        assert_eq!(stats.retries.load(Ordering::Relaxed), 2, "{what}");
        assert_eq!(stats.throttled.load(Ordering::Relaxed), 0, "{what}");
    }
}

#[tokio::test]
async fn throttling_is_retried_and_slows_the_limiter() {
    let failures: Vec<(&str, ResponseTemplate)> = vec![
        (
            "code 40100",
            envelope(40100, "Requests made too frequently", json!({})),
        ),
        (
            "code 40133",
            envelope(40133, "Advertiser QPS reaches QPS limit", json!({})),
        ),
        (
            "HTTP 429",
            ResponseTemplate::new(429).set_body_string("Too Many Requests"),
        ),
    ];
    for (what, failure) in failures {
        let (client, count) = twice_then_ok(failure).await;
        assert_eq!(count, 3, "{what}: requests");
        let stats = &client.stats;
        assert_eq!(stats.throttled.load(Ordering::Relaxed), 2, "{what}");
        assert_eq!(stats.retries.load(Ordering::Relaxed), 2, "{what}");
    }
}

/// What one throttle answer (then success) costs in wall time, with a per-minute pause long
/// enough to see and per-second backoffs short enough not to be mistaken for it.
async fn throttled_once_then_ok(code: i64, message: &str) -> Duration {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("campaign/get/")))
        .respond_with(sequence(vec![
            envelope(code, message, json!({})),
            ok(json!({"list": []})),
        ]))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let mut options = options();
    options.throttle.minute_pause = Duration::from_millis(1500);
    let client = TikTokClient::new(&production(&server.uri()), options).expect("client");
    let started = Instant::now();
    client
        .get("campaign/get/", &[("advertiser_id", "1".into())])
        .await
        .expect("success after the throttle");
    let elapsed = started.elapsed();
    assert_eq!(client.stats.throttled.load(Ordering::Relaxed), 1);
    elapsed
}

/// TikTok tells its limits apart in the message only (Rate limits, portal doc
/// 1740029171730433): the five-minute pause (1.5 s here) follows a message naming QPM and no
/// other; a QPS message, TikTok's generic texts, a word like "daily" and an ad account's 40133
/// get the short backoff.
#[tokio::test]
async fn only_a_qpm_message_pauses_for_the_per_minute_limit() {
    let minute = throttled_once_then_ok(
        40100,
        "Requests made too frequently. The app reaches the QPM limit 600 for current path, \
         request is temporarily restricted.",
    )
    .await;
    assert!(minute >= Duration::from_millis(1450), "QPM: {minute:?}");
    let short = [
        (40100, "App 7055107885017071618 reaches the QPS limit 10, current QPS is 11."),
        (40100, "Too many requests"),
        (40016, "Requests made too frequently. Please try again later."),
        (40100, "Too many requests for the daily budget of this app"),
        (40133, "Advertiser (1)'s QPS (21) reaches QPS limit 20 for current path, request is temporarily restricted."),
    ];
    for (code, message) in short {
        let elapsed = throttled_once_then_ok(code, message).await;
        assert!(
            elapsed < Duration::from_millis(700),
            "{code} {message:?}: {elapsed:?}"
        );
    }
}

/// The daily limit is known by the QPD TikTok's message names: the request ends at once (the
/// run then ends at its checkpoint); a message that only mentions a day is retried.
#[tokio::test]
async fn only_a_qpd_message_is_the_daily_quota() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("campaign/get/")))
        .respond_with(envelope(
            40100,
            "Requests made too frequently. The app reaches the daily limit (QPD) 864000 for \
             current path, request is restricted until 00:00:00 UTC+0.",
            json!({}),
        ))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let client = client(&server);
    let started = Instant::now();
    let err = client.get("campaign/get/", &[]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::QuotaExhausted, "{err}");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(received(&server).await.len(), 1, "asked once");

    let (client, count) = twice_then_ok(envelope(
        40100,
        "Too many requests today: the daily budget of the app is shared",
        json!({}),
    ))
    .await;
    assert_eq!(count, 3);
    assert_eq!(client.stats.throttled.load(Ordering::Relaxed), 2);
}

// ---------------------------------------------------------------------------------------------
// 4. Giving up
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_route_that_always_fails_gives_up_in_bounded_time() {
    let server = MockServer::start().await;
    Mock::given(path(api("ad/get/")))
        .respond_with(envelope(50000, "System error, try again later", json!({})))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let client = client(&server);
    let started = Instant::now();
    let err = client
        .get("ad/get/", &[("advertiser_id", "1".into())])
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900) && elapsed < Duration::from_secs(8),
        "gave up after {elapsed:?}"
    );
    let Error::GaveUp(text) = &err else {
        panic!("expected GaveUp, got {err:?}")
    };
    assert!(text.contains("2 seconds"), "{text}");
    assert!(text.contains("ad/get/"), "{text}");
    assert!(
        text.contains("code 50000") && text.contains("System error, try again later"),
        "the last answer is named: {text}"
    );
    assert_eq!(err.class(), ErrorClass::Fatal);
    assert!(received(&server).await.len() > 2);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 5. Pagination
// ---------------------------------------------------------------------------------------------

fn records(page: u32, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("{page}-{i}")}))
        .collect()
}

async fn mount_page(server: &MockServer, page: u32, data: Value) {
    Mock::given(method("GET"))
        .and(path(api("campaign/get/")))
        .and(query_param("page", page.to_string()))
        .and(query_param("page_size", "2"))
        .and(query_param("advertiser_id", "42"))
        .respond_with(ok(data))
        .named(format!("page {page}"))
        .expect(1)
        .mount(server)
        .await;
}

/// Runs `pages()` and returns the page numbers and every record id, in order.
async fn all_pages(server: &MockServer) -> (Vec<u32>, Vec<String>) {
    let client = client(server);
    let pages: Vec<_> = client
        .pages(
            "campaign/get/",
            vec![("advertiser_id", "42".into())],
            "list",
            2,
        )
        .try_collect()
        .await
        .expect("every page");
    let numbers = pages.iter().map(|p| p.page).collect();
    let ids = pages
        .iter()
        .flat_map(|p| p.records.iter())
        .map(|r| data_of(r)["id"].as_str().unwrap().to_string())
        .collect();
    (numbers, ids)
}

#[tokio::test]
async fn pages_follow_page_info_total_page() {
    let server = MockServer::start().await;
    let info = |page| json!({"page": page, "page_size": 2, "total_number": 5, "total_page": 3});
    mount_page(
        &server,
        1,
        json!({"list": records(1, 2), "page_info": info(1)}),
    )
    .await;
    mount_page(
        &server,
        2,
        json!({"list": records(2, 2), "page_info": info(2)}),
    )
    .await;
    mount_page(
        &server,
        3,
        json!({"list": records(3, 1), "page_info": info(3)}),
    )
    .await;
    catch_all(&server).await; // page 4 would land here
    let (numbers, ids) = all_pages(&server).await;
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(ids, vec!["1-0", "1-1", "2-0", "2-1", "3-0"]);
    assert_eq!(received(&server).await.len(), 3);
    server.verify().await;
}

#[tokio::test]
async fn without_page_info_a_short_page_is_the_last() {
    let server = MockServer::start().await;
    mount_page(&server, 1, json!({"list": records(1, 2)})).await;
    mount_page(&server, 2, json!({"list": records(2, 1)})).await;
    catch_all(&server).await;
    let (numbers, ids) = all_pages(&server).await;
    assert_eq!(numbers, vec![1, 2]);
    assert_eq!(ids.len(), 3);
    assert_eq!(received(&server).await.len(), 2);
    server.verify().await;
}

/// Without `page_info`, a total that is an exact multiple of the page size cannot be told from
/// "more to come": the client asks for one more page and stops at the empty answer. This costs
/// one extra request (as in Airbyte's page-increment paginator); endpoints that send
/// `page_info` do not pay it.
#[tokio::test]
async fn without_page_info_an_exact_multiple_costs_one_empty_page() {
    let server = MockServer::start().await;
    mount_page(&server, 1, json!({"list": records(1, 2)})).await;
    mount_page(&server, 2, json!({"list": records(2, 2)})).await;
    mount_page(&server, 3, json!({"list": []})).await;
    catch_all(&server).await;
    let (numbers, ids) = all_pages(&server).await;
    assert_eq!(numbers, vec![1, 2], "the empty page is not yielded");
    assert_eq!(ids.len(), 4);
    assert_eq!(received(&server).await.len(), 3);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 6. Auth failures say what to do
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn auth_failures_name_the_fix() {
    let server = MockServer::start().await;
    Mock::given(path(api("invalid-token/")))
        .respond_with(envelope(
            40105,
            "Access token is incorrect or has been revoked.",
            json!({}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(api("bad-app/")))
        .respond_with(envelope(40101, "Invalid secret or app_id.", json!({})))
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let client = client(&server);

    let err = client.get("invalid-token/", &[]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    assert!(err.stops_the_run());
    let text = err.to_string();
    assert!(text.contains("Re-authenticate"), "{text}");
    assert!(text.contains("40105"), "{text}");

    let err = client.get("bad-app/", &[]).await.unwrap_err();
    assert_eq!(err.class(), ErrorClass::Auth);
    let text = err.to_string();
    assert!(
        text.contains("client_id") && text.contains("client_secret"),
        "{text}"
    );
    server.verify().await;
}

#[tokio::test]
async fn the_connection_check_says_tiktok_rejected_the_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(api("oauth2/advertiser/get/")))
        .and(header("Access-Token", TOKEN))
        .respond_with(envelope(
            40105,
            "Access token is incorrect or has been revoked.",
            json!({}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let config = production(&server.uri());
    let err = source_tiktok_marketing::check::connection(&config)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("TikTok rejected the credentials"), "{text}");
    assert!(text.contains("Re-authenticate"), "{text}");
    assert_eq!(err.class(), ErrorClass::Config);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Secrets never leak
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_no_canary(what: &str, text: &str) {
    for canary in CANARIES {
        assert!(!text.contains(canary), "{what} leaks {canary:?}: {text}");
    }
}

fn assert_error_clean(what: &str, err: &Error) {
    assert_no_canary(&format!("{what} (Display)"), &err.to_string());
    assert_no_canary(&format!("{what} (Debug)"), &format!("{err:?}"));
}

/// Every error text TikTok could echo the credentials in.
fn echo() -> String {
    format!("Invalid request: access_token={TOKEN}, app_id={APP_ID}, secret={SECRET}")
}

/// Makes a scoped (`set_default`) subscriber reliable while other tests log on other threads.
/// tracing-core caches each callsite's interest once; while a single dispatcher is registered
/// it asks the *registering thread's* default, so a `warn!` first reached by another test
/// (whose thread has no subscriber) would be cached as "never" and vanish from this test's
/// capture. A second, global dispatcher makes tracing ask every registered dispatcher instead.
fn register_a_global_no_op_subscriber() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::new());
    });
}

// The current-thread runtime keeps every task on this thread, under the scoped subscriber.
#[tokio::test(flavor = "current_thread")]
async fn secrets_appear_in_no_error_debug_dump_or_log() {
    register_a_global_no_op_subscriber();
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = MockServer::start().await;
    // Discovery sends app_id and secret in the query: throttled, then server errors in JSON and
    // HTML, then a fatal error, each echoing every credential.
    Mock::given(path(api("oauth2/advertiser/get/")))
        .and(query_param("app_id", APP_ID))
        .and(query_param("secret", SECRET))
        .respond_with(sequence(vec![
            envelope(40100, &echo(), json!({})),
            ResponseTemplate::new(502)
                .set_body_raw(format!("<html><p>{}</p></html>", echo()), "text/html"),
            envelope(50000, &echo(), json!({})),
            envelope(50000, &echo(), json!({})),
            envelope(40000, &echo(), json!({})),
        ]))
        .expect(5)
        .mount(&server)
        .await;
    Mock::given(path(api("always-failing/")))
        .respond_with(envelope(50002, &echo(), json!({})))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let config = production(&server.uri());
    assert_no_canary("Config (Debug)", &format!("{config:?}"));
    let client = TikTokClient::new(&config, options()).unwrap();

    let err = advertisers::ids(&client, &config).await.unwrap_err();
    assert_eq!(err.api_code(), Some(40000), "{err}");
    assert!(err.to_string().contains("<redacted>"), "{err}");
    assert_error_clean("an echoed API error", &err);
    assert_eq!(client.stats.throttled.load(Ordering::Relaxed), 1);

    let mut quick = options();
    quick.give_up_after = Duration::from_millis(300);
    let client = TikTokClient::new(&config, quick.clone()).unwrap();
    let err = client.get("always-failing/", &[]).await.unwrap_err();
    assert!(matches!(err, Error::GaveUp(_)), "{err:?}");
    assert_error_clean("a give-up after echoed errors", &err);
    server.verify().await;

    // A transport failure on the request that carries app_id and secret in its URL.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = production(&format!("http://127.0.0.1:{closed}"));
    let client = TikTokClient::new(&config, quick).unwrap();
    let err = advertisers::ids(&client, &config).await.unwrap_err();
    assert!(matches!(err, Error::GaveUp(_)), "{err:?}");
    assert!(err.to_string().contains("oauth2/advertiser/get/"), "{err}");
    assert_error_clean("a refused connection", &err);

    let logs = logs.text();
    assert!(
        logs.contains("throttled") && logs.contains("keeps failing"),
        "the logs were captured: {logs}"
    );
    assert_no_canary("the logs", &logs);
}

// ---------------------------------------------------------------------------------------------
// 8. Timeouts
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = MockServer::start().await;
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(json!({"list": ["slow"]})).set_delay(Duration::from_secs(3)))
        .with_priority(1)
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(json!({"list": ["fast"]})))
        .with_priority(2)
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let mut options = options();
    options.timeout = Duration::from_millis(300);
    let client = TikTokClient::new(&production(&server.uri()), options).unwrap();
    let started = Instant::now();
    let data = client.get("campaign/get/", &[]).await.expect("retried");
    assert_eq!(data_of(&data), json!({"list": ["fast"]}));
    assert!(
        started.elapsed() < Duration::from_millis(2800),
        "the slow answer was not awaited: {:?}",
        started.elapsed()
    );
    assert_eq!(client.stats.retries.load(Ordering::Relaxed), 1);
    server.verify().await;
}

// ---------------------------------------------------------------------------------------------
// 9. Advertiser discovery
// ---------------------------------------------------------------------------------------------

const FIRST_ID: u64 = 7_002_238_017_842_757_633;
/// 2023-05-17T12:00:00Z.
const CREATED: i64 = 1_684_324_800;

/// Answers `advertiser/info/` with the details of the requested ids.
fn info(req: &Request) -> ResponseTemplate {
    let ids: Vec<String> = query(req)
        .into_iter()
        .find(|(k, _)| k == "advertiser_ids")
        .map(|(_, v)| serde_json::from_str(&v).expect("advertiser_ids is a JSON array"))
        .expect("advertiser_ids is sent");
    let list: Vec<Value> = ids
        .iter()
        .map(|id| {
            let n = id.parse::<u64>().unwrap() - FIRST_ID;
            let created = CREATED + n as i64 * 86_400;
            // Half the answers carry create_time as a string, as TikTok sometimes does.
            let create_time = if n % 2 == 0 {
                json!(created)
            } else {
                json!(created.to_string())
            };
            json!({"advertiser_id": id, "name": format!("account {n}"), "create_time": create_time})
        })
        .collect();
    ok(json!({"list": list}))
}

#[tokio::test]
async fn production_discovers_advertisers_and_reads_details_in_batches() {
    let server = MockServer::start().await;
    let listed: Vec<Value> = (0..250u64)
        .map(|n| json!({"advertiser_id": (FIRST_ID + n).to_string(), "advertiser_name": format!("a{n}")}))
        .collect();
    Mock::given(method("GET"))
        .and(path(api("oauth2/advertiser/get/")))
        .and(header("Access-Token", TOKEN))
        .and(query_param("app_id", APP_ID))
        .and(query_param("secret", SECRET))
        .respond_with(ok(json!({"list": listed})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("advertiser/info/")))
        .and(header("Access-Token", TOKEN))
        .respond_with(info)
        .expect(3)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let config = production(&server.uri());
    let client = TikTokClient::new(&config, options()).unwrap();

    let found = advertisers::resolve(&client, &config)
        .await
        .expect("resolved");
    assert!(found.info_error.is_none(), "{:?}", found.info_error);
    let ids: Vec<u64> = found.list.iter().map(|a| a.id).collect();
    assert_eq!(ids, (0..250).map(|n| FIRST_ID + n).collect::<Vec<_>>());
    for (n, advertiser) in found.list.iter().enumerate() {
        assert!(advertiser.info.is_some(), "details of {}", advertiser.id);
        // The creation day is the UTC day of create_time, minus one so that accounts west of
        // UTC keep their first local day.
        let expected = NaiveDate::from_ymd_opt(2023, 5, 17)
            .unwrap()
            .checked_add_days(chrono::Days::new(n as u64))
            .unwrap()
            .pred_opt();
        assert_eq!(advertiser.created, expected, "advertiser {n}");
    }

    let requests = received(&server).await;
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].url.path(), api("oauth2/advertiser/get/"));
    let discovery = query_map(&requests[0]);
    assert_eq!(
        discovery.keys().map(String::as_str).collect::<Vec<_>>(),
        vec!["app_id", "secret"]
    );
    let mut sizes = Vec::new();
    let mut seen = BTreeSet::new();
    for req in &requests[1..] {
        assert_eq!(req.url.path(), api("advertiser/info/"));
        let q = query_map(req);
        assert_eq!(
            q.keys().map(String::as_str).collect::<Vec<_>>(),
            vec!["advertiser_ids"],
            "advertiser/info/ is not paginated"
        );
        let batch: Vec<String> = serde_json::from_str(&q["advertiser_ids"]).unwrap();
        sizes.push(batch.len());
        seen.extend(batch);
    }
    assert_eq!(sizes, vec![100, 100, 50]);
    assert_eq!(seen.len(), 250);
    server.verify().await;
}

/// A non-JSON answer is quoted in the error, cut to 200 characters. The secret must be scrubbed
/// before the cut: scrubbing after it would miss a secret that straddles the cut and leak its
/// first characters.
#[tokio::test]
async fn a_secret_straddling_the_quoted_snippet_is_not_half_leaked() {
    let server = MockServer::start().await;
    let body = format!("{}{TOKEN} and more text after it", "x".repeat(190));
    Mock::given(path(api("campaign/get/")))
        .respond_with(ResponseTemplate::new(403).set_body_raw(body, "text/html"))
        .expect(1)
        .mount(&server)
        .await;
    catch_all(&server).await;
    let err = client(&server).get("campaign/get/", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("HTTP 403"), "{text}");
    for canary in CANARIES {
        // Its first ten characters (the shared "canary-" and three more) would be a partial leak.
        assert!(
            !text.contains(&canary[..10]),
            "partial leak of {canary:?}: {text}"
        );
    }
    server.verify().await;
}

/// `check` against a base URL where nothing listens: one message that says what happened and
/// what to do, with the time it really took and the limit it stopped at, no claim about a
/// checkpoint (a check has none) and no doubled period.
#[tokio::test]
async fn a_check_against_a_dead_base_url_says_what_happened_in_one_sentence() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = config::parse(&json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": "app", "client_secret": "sec",
                        "access_token": "tok-dead-1"},
        "advanced": {"base_url": format!("http://127.0.0.1:{port}")}
    }))
    .unwrap();
    let mut options = ClientOptions::default().with_retry_delay(Duration::from_millis(50));
    options.give_up_after = Duration::from_secs(2);
    let started = Instant::now();
    let err = source_tiktok_marketing::check::connection_with(&config, options)
        .await
        .unwrap_err();
    let elapsed = started.elapsed().as_secs_f64();
    let message = err.to_string();
    assert!(
        message.starts_with("Could not reach the TikTok API"),
        "{message}"
    );
    assert!(
        message.contains("would pass the 2-second limit"),
        "{message}"
    );
    // The time it says it spent is the time it took, to the second.
    let said: f64 = message
        .split("kept failing for ")
        .nth(1)
        .and_then(|rest| rest.split(" seconds").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no time spent in {message}"));
    assert!(
        (said - elapsed).abs() <= 1.0,
        "{message} (took {elapsed} s)"
    );
    assert!(!message.contains(".."), "{message}");
    assert!(!message.contains("checkpoint"), "{message}");
    assert!(message.ends_with("then try again."), "{message}");
}
