//! Hostile servers and bad state. Each test stands up a small server on 127.0.0.1 (wiremock, or
//! a raw tokio listener where wiremock cannot misbehave enough) that attacks the connector the
//! way a compromised proxy or a broken API could, or hands it a state it could never have
//! written, and checks that the connector stays bounded (memory, requests, time), says what
//! happened, and never lets a secret out in any encoding.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{run, temp_json, Output};
use futures::TryStreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use source_tiktok_marketing::client::{ClientOptions, Paging, TikTokClient};
use source_tiktok_marketing::config;

const TOKEN: &str = "hostile-token-K4m";
const APP: &str = "hostile-app-P8q";
const SECRET: &str = "hostile-secret-R2v";
const ADVERTISER: u64 = 7_000_000_000_000_000_042;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

fn api(p: &str) -> String {
    format!("/open_api/v1.3/{p}")
}

/// A production config against `base_url`; `extra` is merged into `advanced`.
fn production(base_url: &str, extra: Value) -> Value {
    let mut config = json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": APP, "client_secret": SECRET,
                        "access_token": TOKEN},
        "start_date": "2024-01-01",
        "advanced": {"base_url": base_url, "requests_per_second": 100},
    });
    for (k, v) in extra.as_object().into_iter().flatten() {
        config["advanced"][k] = v.clone();
    }
    config
}

/// The same, capturing one configured advertiser (no advertiser listing).
fn one_advertiser(base_url: &str) -> Value {
    production(
        base_url,
        json!({"advertiser_ids": [ADVERTISER.to_string()]}),
    )
}

fn catalog(streams: &[&str]) -> Value {
    json!({"streams": streams.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()})
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "code": 0, "message": "OK", "request_id": "req-ok", "data": data}))
}

/// `advertiser/info/` for the one advertiser.
async fn mount_info(server: &MockServer) {
    Mock::given(path(api("advertiser/info/")))
        .respond_with(ok(json!({"list": [{"advertiser_id": ADVERTISER,
            "name": "Acme", "create_time": 1704067200}]})))
        .mount(server)
        .await;
}

/// Anything else answers 404 (a clear, non-retried failure) naming the request.
async fn catch_all(server: &MockServer) {
    Mock::given(any())
        .respond_with(|req: &Request| {
            ResponseTemplate::new(404).set_body_string(format!("no mock for {}", req.url.path()))
        })
        .with_priority(u8::MAX)
        .mount(server)
        .await;
}

/// Fails the test if any secret is in any output.
fn assert_no_secret(out: &Output) {
    for secret in [TOKEN, APP, SECRET] {
        assert!(!out.stdout_text.contains(secret), "{secret} on stdout");
        assert!(!out.stderr.contains(secret), "{secret} on stderr");
    }
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// Runs the binary's Airbyte `read` and waits for it.
async fn read_binary(config: Value, streams: &[&str], state: Option<Value>) -> Output {
    let streams: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &config);
        let names: Vec<&str> = streams.iter().map(String::as_str).collect();
        let k = temp_json(&dir, "catalog.json", &catalog(&names));
        let mut args = vec![
            "read".to_string(),
            "--config".into(),
            c,
            "--catalog".into(),
            k,
        ];
        if let Some(state) = state {
            args.push("--state".into());
            args.push(temp_json(&dir, "state.json", &state));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args, "", &[])
    })
    .await
    .unwrap()
}

/// Runs the binary's Airbyte `check`.
async fn check_binary(config: Value) -> Output {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &config);
        run(&["check", "--config", &c], "", &[])
    })
    .await
    .unwrap()
}

/// Quick retries: fault paths take milliseconds. The give-up time stays at its production
/// value unless a test shortens it.
fn quick() -> ClientOptions {
    crate::common::quick_retries()
}

/// The last state of a stream in Airbyte output.
fn last_state(lines: &[Value], stream: &str) -> Value {
    lines
        .iter()
        .rev()
        .find(|m| {
            m["type"] == "STATE" && m["state"]["stream"]["stream_descriptor"]["name"] == stream
        })
        .map(|m| m["state"]["stream"]["stream_state"].clone())
        .unwrap_or(Value::Null)
}

fn records(lines: &[Value]) -> Vec<&Value> {
    lines
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| &m["record"]["data"])
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------

/// A redirect to another host would carry the `Access-Token` header there, and a path-keeping
/// one the app id and secret of `oauth2/advertiser/get/` too. The connector refuses it, names
/// the target and sends it nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_is_refused_and_its_target_receives_nothing() {
    let target = MockServer::start().await;
    Mock::given(any())
        .respond_with(ok(json!({"list": [{"advertiser_id": ADVERTISER}]})))
        .mount(&target)
        .await;
    let target_host = target.address().to_string();
    let hostile = MockServer::start().await;
    let location = format!("{}{}", target.uri(), api("oauth2/advertiser/get/"));
    Mock::given(any())
        .respond_with(ResponseTemplate::new(307).insert_header("Location", location.as_str()))
        .mount(&hostile)
        .await;

    let out = check_binary(production(&hostile.uri(), json!({}))).await;
    assert_no_secret(&out);
    let status = &out.stdout[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED", "{}", out.stdout_text);
    let message = status["message"].as_str().unwrap();
    assert!(message.contains(&target_host), "{message}");
    assert!(message.contains("redirect"), "{message}");
    assert!(target.received_requests().await.unwrap().is_empty());

    // Every redirect status, in-process.
    let config = config::parse(&production(&hostile.uri(), json!({}))).unwrap();
    let client = TikTokClient::new(&config, quick()).unwrap();
    for status in [301, 302, 303, 307, 308] {
        hostile.reset().await;
        Mock::given(any())
            .respond_with(
                ResponseTemplate::new(status).insert_header("Location", location.as_str()),
            )
            .mount(&hostile)
            .await;
        let err = client.get("campaign/get/", &[]).await.unwrap_err();
        assert!(err.to_string().contains(&target_host), "{status}: {err}");
        assert_eq!(
            hostile.received_requests().await.unwrap().len(),
            1,
            "{status}: retried"
        );
    }
    assert!(target.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Endless bodies
// ---------------------------------------------------------------------------------------------

/// A server that answers every request with a chunked body that never ends. It records the
/// most bytes it managed to send on one connection.
async fn endless_server() -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let most = Arc::new(AtomicU64::new(0));
    let record = most.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let start = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                              Transfer-Encoding: chunked\r\n\r\n";
                if socket.write_all(start).await.is_err() {
                    return;
                }
                let row = "{\"campaign_id\":\"1\",\"modify_time\":\"2024-01-01 00:00:00\"},";
                let payload = row.repeat(64 * 1024 / row.len());
                let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
                let mut sent: u64 = 0;
                let opening = "{\"code\":0,\"data\":{\"list\":[";
                let first = format!("{:x}\r\n{opening}\r\n", opening.len());
                if socket.write_all(first.as_bytes()).await.is_err() {
                    return;
                }
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    sent += payload.len() as u64;
                    record.fetch_max(sent, Ordering::Relaxed);
                }
            });
        }
    });
    (format!("http://{addr}"), most)
}

/// The process's peak resident memory in KB.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Unbounded, an endless body took the process to 2.9 GB in 15 seconds. With the cap, the
/// connector stops reading each answer at 16 MiB and retries; its peak memory stays at a few
/// tens of MB however long the server keeps sending.
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_body_is_cut_off_and_memory_stays_bounded() {
    let (base_url, most) = endless_server().await;
    let dir = tempfile::tempdir().unwrap();
    let c = temp_json(&dir, "config.json", &one_advertiser(&base_url));
    let k = temp_json(&dir, "catalog.json", &catalog(&["campaigns"]));
    let mut child = std::process::Command::new(crate::common::BINARY)
        .args(["read", "--config", &c, "--catalog", &k])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(8) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match peak_rss_kb(pid) {
            Some(kb) => peak = peak.max(kb),
            None => break,
        }
    }
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The body was read at loopback speed for seconds: unbounded, that is gigabytes.
    assert!(peak > 0);
    assert!(peak < 80 * 1024, "peak RSS {peak} KB under an endless body");
    let sent = most.load(Ordering::Relaxed);
    assert!(
        sent < 64 << 20,
        "the server sent {sent} bytes on one connection"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The error says what happened (in-process, with a small cap and a short give-up).
    let config = config::parse(&one_advertiser(&base_url)).unwrap();
    let options = ClientOptions {
        max_body_bytes: 1 << 20,
        give_up_after: Duration::from_millis(300),
        ..quick()
    };
    let client = TikTokClient::new(&config, options).unwrap();
    let err = client.get("campaign/get/", &[]).await.unwrap_err();
    assert!(err.to_string().contains("longer than 1 MiB"), "{err}");
}

/// An answer over the 16 MiB cap will be as large on the next try: it is asked for three times,
/// then the run ends with an error saying what came back, not after ten minutes of retries. The
/// whole `read` (an advertiser list, entities and a report) ends within 60 seconds, whether the
/// body never ends or announces 20 MiB, and nothing the server sent (here: the access token, as
/// a hostile server could) is printed.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_answer_ends_the_run_within_a_minute_with_a_clear_error() {
    let (endless, _) = endless_server().await;
    let sized = MockServer::start().await;
    let row = format!("{{\"campaign_id\":\"1\",\"campaign_name\":\"{TOKEN}\"}},");
    let body = format!(
        "{{\"code\":0,\"message\":\"{TOKEN}\",\"data\":{{\"list\":[{}{{}}]}}}}",
        row.repeat((20 << 20) / row.len())
    );
    assert!(body.len() > 20 << 20);
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&sized)
        .await;
    for (what, base_url) in [("endless", endless), ("20 MiB", sized.uri())] {
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &production(&base_url, json!({})));
        let k = temp_json(
            &dir,
            "catalog.json",
            &catalog(&["advertisers", "campaigns", "campaigns_reports_daily"]),
        );
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || {
            run(&["read", "--config", &c, "--catalog", &k], "", &[])
        })
        .await
        .unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(60), "{what}: {elapsed:?}");
        assert_ne!(output.code, 0, "{what}");
        let all = format!("{}{}", output.stdout_text, output.stderr);
        assert!(
            all.contains("is longer than 16 MiB") && all.contains("3 times in a row"),
            "{what}: {}",
            output.stderr
        );
        for secret in [TOKEN, APP, SECRET] {
            assert!(!all.contains(secret), "{what}: {secret} printed");
        }
    }
}

/// A server that puts the credentials in a cell does not get
/// them into a record: records pass the same scrubber as the logs, and the rest of each row is
/// kept. A 1 MB value in a field the logs name is echoed cut, with its length.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_a_server_puts_in_a_cell_never_reach_a_record() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    let rows = json!([
        {"campaign_id": "1", "advertiser_id": ADVERTISER, "campaign_name": TOKEN,
         "modify_time": "2024-03-01 10:00:00"},
        {"campaign_id": "2", "advertiser_id": ADVERTISER,
         "campaign_name": format!("app {APP} and {SECRET}"),
         "modify_time": "2024-03-01 10:00:00"},
        {"campaign_id": "3", "advertiser_id": ADVERTISER, "campaign_name": "plain",
         "modify_time": "x".repeat(1 << 20)},
    ]);
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(json!({"list": rows, "page_info":
            {"page": 1, "page_size": 1000, "total_number": 3, "total_page": 1}})))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let out = read_binary(one_advertiser(&server.uri()), &["campaigns"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_secret(&out);
    let names: std::collections::BTreeMap<String, String> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| {
            let data = &m["record"]["data"];
            (
                data["campaign_id"]
                    .to_string()
                    .trim_matches('"')
                    .to_string(),
                data["campaign_name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names["1"], "<redacted>");
    assert_eq!(names["2"], "app <redacted> and <redacted>");
    assert_eq!(names["3"], "plain");
    // The 1 MB time is named in a warning, cut.
    assert!(
        out.stderr.len() < 64 * 1024,
        "{} bytes of stderr",
        out.stderr.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Cursors from the server and from the state
// ---------------------------------------------------------------------------------------------

/// A row dated 2099 (or "not-a-date", which sorts after every date) used to become the cursor
/// and hide every later change. Now such rows are emitted, warned about once, and the cursor
/// moves only to the newest believable time.
#[tokio::test(flavor = "multi_thread")]
async fn future_or_unreadable_modify_times_never_become_the_cursor() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    let rows = json!([
        {"campaign_id": "1", "advertiser_id": ADVERTISER, "modify_time": "2099-01-01 00:00:00"},
        {"campaign_id": "2", "advertiser_id": ADVERTISER, "modify_time": "not-a-date"},
        {"campaign_id": "3", "advertiser_id": ADVERTISER, "modify_time": "2024-03-01 10:00:00"},
    ]);
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(json!({"list": rows, "page_info":
            {"page": 1, "page_size": 1000, "total_number": 3, "total_page": 1}})))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let out = read_binary(one_advertiser(&server.uri()), &["campaigns"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_secret(&out);
    let states: Vec<&Value> = out.stdout.iter().filter(|m| m["type"] == "STATE").collect();
    let state = &states.last().unwrap()["state"]["stream"]["stream_state"];
    assert_eq!(
        state["advertisers"][ADVERTISER.to_string()]["cursor"],
        "2024-03-01 10:00:00",
        "{state}"
    );
    // Every row is kept (each buying type's list returned all three).
    let ids: std::collections::BTreeSet<String> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| m["record"]["data"]["campaign_id"].to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    // One warning for each kind, not one per row or per request.
    assert_eq!(
        out.stderr.matches("later than now").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        out.stderr.matches("not a YYYY-MM-DD HH:MM:SS").count(),
        1,
        "{}",
        out.stderr
    );
}

/// A state cursor that is not a date would freeze the stream for good (it sorts after every
/// date). It is refused before any request, naming the stream, the advertiser and the value.
/// (A cursor in the future is a date: it is not used, with a warning; see
/// `future_state_cursors_are_not_used_with_one_warning_in_both_protocols`.)
#[tokio::test(flavor = "multi_thread")]
async fn impossible_state_cursors_are_refused_naming_stream_and_value() {
    let server = MockServer::start().await;
    catch_all(&server).await;
    for (stream, cursor) in [
        ("campaigns", "not-a-date"),
        ("campaigns_reports_daily", "2024-13-01"),
        ("ads", "2024-01-01; DROP"),
    ] {
        let state = json!({stream: {"advertisers": {ADVERTISER.to_string(): {"cursor": cursor}}}});
        let out = read_binary(one_advertiser(&server.uri()), &[stream], Some(state)).await;
        assert_ne!(out.code, 0, "{stream} {cursor}");
        assert_no_secret(&out);
        let message = out.last_log_message();
        for part in [stream, cursor, &ADVERTISER.to_string()] {
            assert!(message.contains(part), "{part} missing: {message}");
        }
        let trace = out.stdout.last().unwrap();
        assert_eq!(trace["trace"]["error"]["failure_type"], "config_error");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Paging
// ---------------------------------------------------------------------------------------------

/// Runs `pages()` against the server and returns how many pages came out and how many
/// requests were made.
async fn page_through(server: &MockServer, page_size: u32) -> (usize, usize) {
    let config = config::parse(&one_advertiser(&server.uri())).unwrap();
    let client = TikTokClient::new(&config, quick()).unwrap();
    let pages: Vec<_> = tokio::time::timeout(
        Duration::from_secs(20),
        client
            .pages(
                "campaign/get/",
                vec![("advertiser_id", "1".into())],
                "list",
                page_size,
            )
            .try_collect(),
    )
    .await
    .expect("paging ends")
    .expect("pages");
    (pages.len(), server.received_requests().await.unwrap().len())
}

fn page_of(page: &str, total_number: Value, total_page: Value, ids: &[u32]) -> Value {
    let list: Vec<Value> = ids
        .iter()
        .map(|i| json!({"campaign_id": i.to_string(), "p": page}))
        .collect();
    json!({"list": list, "page_info": {"page": page, "page_size": 2,
        "total_number": total_number, "total_page": total_page}})
}

/// Answers with the page whose number the request asks for.
fn by_page(make: impl Fn(u32) -> Value + Send + Sync + 'static) -> impl wiremock::Respond {
    move |req: &Request| {
        let page = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        ok(make(page))
    }
}

#[tokio::test]
async fn paging_stops_at_an_empty_page_whatever_total_page_says() {
    let server = MockServer::start().await;
    Mock::given(path(api("campaign/get/")))
        .respond_with(by_page(|page| {
            let ids: &[u32] = if page == 1 { &[1, 2] } else { &[] };
            page_of(&page.to_string(), json!(null), json!(1_000_000_000u32), ids)
        }))
        .mount(&server)
        .await;
    let (pages, requests) = page_through(&server, 2).await;
    assert_eq!(pages, 1);
    // Page 2 is empty; at most the pages already in flight beside it were asked for.
    assert!(requests <= 3, "{requests} requests");
}

#[tokio::test]
async fn paging_stops_when_a_page_repeats_the_one_before() {
    let server = MockServer::start().await;
    // Full pages, no page_info, the same rows every time.
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(
            json!({"list": [{"campaign_id": "1"}, {"campaign_id": "2"}]}),
        ))
        .mount(&server)
        .await;
    let (pages, requests) = page_through(&server, 2).await;
    assert_eq!((pages, requests), (1, 2));
}

#[tokio::test]
async fn paging_never_asks_for_more_pages_than_total_number_allows() {
    let server = MockServer::start().await;
    // total_number 5 at 2 a page: at most 5 / 2 + 1 = 3 pages, whatever total_page says.
    Mock::given(path(api("campaign/get/")))
        .respond_with(by_page(|page| {
            page_of(
                &page.to_string(),
                json!(5),
                json!(4_000_000_000u32),
                &[page * 2, page * 2 + 1],
            )
        }))
        .mount(&server)
        .await;
    let (pages, requests) = page_through(&server, 2).await;
    assert_eq!((pages, requests), (3, 3));
}

/// A `total_number` of 2^64 - 1 once sized an allocation (a panic, or an abort with no error
/// trace). Now nothing is sized by it, and paging ends at the first empty page.
#[tokio::test(flavor = "multi_thread")]
async fn a_huge_total_number_sizes_nothing() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    Mock::given(path(api("ad/get/")))
        .respond_with(by_page(|page| {
            page_of(&page.to_string(), json!(u64::MAX), json!(u32::MAX), &[])
        }))
        .mount(&server)
        .await;
    Mock::given(path(api("report/integrated/get/")))
        .respond_with(ok(
            json!({"list": [], "page_info": {"page": 1, "page_size": 1000,
            "total_number": 0, "total_page": 0}}),
        ))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let mut config = one_advertiser(&server.uri());
    config["start_date"] = json!(chrono::Utc::now().date_naive().to_string());
    let out = read_binary(config, &["ads_reports_daily"], None).await;
    assert_no_secret(&out);
    assert!(![101, 134].contains(&out.code), "{}", out.stderr);
    assert!(
        out.stdout.iter().any(|m| m["type"] == "STATE"),
        "{}",
        out.stdout_text
    );
}

// ---------------------------------------------------------------------------------------------
// Answers that can never succeed
// ---------------------------------------------------------------------------------------------

/// `code` as a string, no `code`, trailing garbage, a `data` that is not a page: none of these
/// gets better with time. They fail after a few quick attempts (not after the ten-minute
/// give-up), naming the endpoint and what was wrong.
#[tokio::test]
async fn malformed_envelopes_fail_after_a_few_quick_attempts() {
    for (body, what) in [
        (
            r#"{"code":"0","message":"OK","data":{"list":[]}}"#,
            "not a TikTok envelope",
        ),
        (r#"{"message":"OK","data":{"list":[]}}"#, "no `code`"),
        (
            r#"{"code":0,"message":"OK","data":{"list":[]}} trailing"#,
            "trailing characters",
        ),
        (
            r#"{"code":0,"message":"OK","data":{"list":{"a":1}}}"#,
            "not a page",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
            .mount(&server)
            .await;
        let config = config::parse(&one_advertiser(&server.uri())).unwrap();
        let options = quick();
        assert_eq!(options.give_up_after, Duration::from_secs(600));
        let attempts = options.malformed_attempts as usize;
        let client = TikTokClient::new(&config, options).unwrap();
        let started = Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            client.page("campaign/get/", &[], "list", Paging::first(10)),
        )
        .await
        .expect("fails quickly")
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let text = err.to_string();
        assert!(
            text.contains("campaign/get/") && text.contains(what),
            "{body}: {text}"
        );
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            attempts,
            "{body}"
        );
    }
}

/// A body cut short is not malformed: it is retried like a dropped connection and succeeds.
#[tokio::test]
async fn a_truncated_body_is_still_retried_until_it_succeeds() {
    let server = MockServer::start().await;
    let truncated =
        ResponseTemplate::new(200).set_body_raw(r#"{"code":0,"data":{"li"#, "application/json");
    let whole = ok(json!({"list": [{"campaign_id": "1"}]}));
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    Mock::given(any())
        .respond_with(move |_: &Request| {
            if count.fetch_add(1, Ordering::Relaxed) < 5 {
                truncated.clone()
            } else {
                whole.clone()
            }
        })
        .mount(&server)
        .await;
    let config = config::parse(&one_advertiser(&server.uri())).unwrap();
    let client = TikTokClient::new(&config, quick()).unwrap();
    let page = client
        .page("campaign/get/", &[], "list", Paging::first(10))
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(served.load(Ordering::Relaxed), 6);
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A token with characters that every encoding changes.
const ODD_TOKEN: &str = "hostile/tok+en&<q>\"'9 x";

fn encodings(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json.trim_matches('"').to_string();
    let percent: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let html = secret
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;");
    vec![
        secret.to_string(),
        json.clone(),
        json.replace('/', "\\/"),
        percent.clone(),
        percent.to_lowercase(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        html,
    ]
}

/// A server that echoes the token back in every encoding, in its message and its
/// `request_id`: none of it may reach stdout or stderr.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_echoed_in_any_encoding_never_reach_the_output() {
    let server = MockServer::start().await;
    let forms = encodings(ODD_TOKEN);
    let message = forms.join(" | ");
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "code": 40001, "message": message,
            "request_id": format!("req-{ODD_TOKEN}-{}", forms[3]), "data": {}})))
        .mount(&server)
        .await;
    let mut config = one_advertiser(&server.uri());
    config["credentials"]["access_token"] = json!(ODD_TOKEN);
    let out = check_binary(config.clone()).await;
    assert_eq!(out.stdout[0]["connectionStatus"]["status"], "FAILED");
    let out_read = read_binary(config, &["campaigns"], None).await;
    for out in [out, out_read] {
        assert!(out.stderr.contains("40001"), "{}", out.stderr);
        // The stderr lines are JSON, so a raw form there would appear JSON-escaped, and one
        // on stdout inside a JSON string likewise: look for every form in both texts.
        for form in forms.iter().chain(encodings(&forms[1]).iter()) {
            assert!(
                !out.stdout_text.contains(form.as_str()),
                "{form:?} on stdout: {}",
                out.stdout_text
            );
            assert!(
                !out.stderr.contains(form.as_str()),
                "{form:?} on stderr: {}",
                out.stderr
            );
        }
        assert!(out.stderr.contains("<redacted>"), "{}", out.stderr);
    }
}

/// Errors about input that never got as far as a parsed config must not echo it: a Flow
/// request with two top-level keys, or a `base_url` holding credentials.
#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_and_urls_are_not_echoed() {
    let config = production("https://api.example.com", json!({}));
    let request = json!({"discover": {"connectorType": "IMAGE", "config": config}, "spec": {}});
    let out = tokio::task::spawn_blocking(move || run(&[], &format!("{request}\n"), &[]))
        .await
        .unwrap();
    assert_ne!(out.code, 0);
    assert_no_secret(&out);
    assert!(
        out.last_log_message().contains("discover"),
        "{}",
        out.stderr
    );

    for base_url in [
        format!("https://user:{SECRET}@api.example.com"),
        format!("https://api.example.com/?access_token={SECRET}"),
        format!("https://api.example.com/#{SECRET}"),
        format!("http://api.example.com/{SECRET}"),
    ] {
        let out = check_binary(production(&base_url, json!({}))).await;
        assert_no_secret(&out);
        let message = out.stdout[0]["connectionStatus"]["message"]
            .as_str()
            .unwrap();
        assert!(message.contains("advanced.base_url"), "{message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Transport policy and configuration bounds
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_remote_host_and_absurd_rates_are_refused() {
    let out = check_binary(production("http://api.example.com", json!({}))).await;
    let message = out.stdout[0]["connectionStatus"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("advanced.allow_insecure_http"),
        "{message}"
    );
    for rps in [1e-11, 0.001, 1000.0] {
        let out = check_binary(production(
            "https://api.example.com",
            json!({"requests_per_second": rps}),
        ))
        .await;
        let message = out.stdout[0]["connectionStatus"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains("advanced.requests_per_second"),
            "{rps}: {message}"
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}

// ---------------------------------------------------------------------------------------------
// State size
// ---------------------------------------------------------------------------------------------

/// Cursors of advertisers the token no longer reaches are dropped from the state, so a state
/// does not grow with every account ever seen.
#[tokio::test]
async fn state_of_unreachable_advertisers_is_pruned() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(
            json!({"list": [{"campaign_id": "3", "advertiser_id": ADVERTISER,
            "modify_time": "2024-03-01 10:00:00"}],
            "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1}}),
        ))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let gone = "7000000000000000999";
    let state = json!({"campaigns": {"advertisers": {
        gone: {"cursor": "2024-02-01 00:00:00"},
        ADVERTISER.to_string(): {"cursor": "2024-02-01 00:00:00"}}}});
    let out = crate::common::read_in_process(
        &one_advertiser(&server.uri()),
        &catalog(&["campaigns"]),
        Some(&state),
        quick(),
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.stdout;
    let state = last_state(&lines, "campaigns");
    assert_eq!(
        state,
        json!({"advertisers": {ADVERTISER.to_string(): {"cursor": "2024-03-01 10:00:00"}}})
    );
    // The campaign is listed once per buying type, so it comes three times.
    assert!(records(&lines)
        .iter()
        .all(|r| r["campaign_id"] == 3 || r["campaign_id"] == "3"));
    assert!(!records(&lines).is_empty());
}

// ---------------------------------------------------------------------------------------------
// No test-only knobs in production
// ---------------------------------------------------------------------------------------------

/// The give-up, timeout and retry knobs are `ClientOptions` fields that tests set through the
/// library; production code reads no environment variable but `LOG_LEVEL`.
#[test]
fn production_code_reads_no_test_only_environment_variables() {
    let mut offenders = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests at the end of a file may read what they like.
            let code = text.split("#[cfg(test)]").next().unwrap();
            for (n, line) in code.lines().enumerate() {
                if line.contains("SOURCE_TIKTOK_")
                    || (line.contains("env::var") && !line.contains("\"LOG_LEVEL\""))
                {
                    offenders.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

/// The peak RSS a capture logged when it finished.
fn logged_peak_rss_kb(stderr: &str) -> u64 {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "Capture finished.")
        .and_then(|l| l["peak_rss_kb"].as_u64())
        .unwrap_or_else(|| panic!("no peak_rss_kb in the logs: {stderr}"))
}

/// The most memory a state of a million advertisers may cost a run, in either protocol
/// (issue 24's bound).
const STATE_MEMORY_BOUND_KB: u64 = 300 << 10;

/// The README's state-size figures: peak memory of an Airbyte `read` and a Flow `open` whose
/// state holds `n` advertisers (all but one no longer reached, so the run also prunes them),
/// held under 300 MB at a million. Slow in a debug build, and its figure is a release build's:
/// run it by hand, `cargo test --release --test it -- --ignored --nocapture state_memory`.
/// (The always-on guards are structural: ids and cursors are inline `CompactString`s, and the
/// map is built full; see `src/capture/state.rs`.)
#[tokio::test(flavor = "multi_thread")]
#[ignore]
#[allow(clippy::print_stdout)] // A measurement: its output is the point.
async fn state_memory_grows_linearly_with_the_advertisers_in_it() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    Mock::given(path(api("campaign/get/")))
        .respond_with(ok(
            json!({"list": [{"campaign_id": "3", "advertiser_id": ADVERTISER,
            "modify_time": "2024-03-01 10:00:00"}],
            "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1}}),
        ))
        .mount(&server)
        .await;
    catch_all(&server).await;
    let mut peaks = Vec::new();
    for n in [100_000u64, 1_000_000] {
        let mut advertisers = serde_json::Map::new();
        for i in 0..n {
            advertisers.insert(
                (7_100_000_000_000_000_000 + i).to_string(),
                json!({"cursor": "2024-02-01 00:00:00"}),
            );
        }
        let state = json!({"campaigns": {"advertisers": advertisers}});
        let state_bytes = state.to_string().len();
        let out = read_binary(
            one_advertiser(&server.uri()),
            &["campaigns"],
            Some(state.clone()),
        )
        .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let airbyte_kb = logged_peak_rss_kb(&out.stderr);
        let state_lines = out.stdout.iter().filter(|m| m["type"] == "STATE").count();
        // Pruning checkpoints come in batches, but a state this large is written at most
        // every ten seconds, and once more at the end.
        assert!(state_lines <= 3, "{state_lines}");
        let request = crate::common::open_request(
            &one_advertiser(&server.uri()),
            &["campaigns"],
            &json!({"bindingStateV1": state}),
        );
        drop(state);
        let flow = tokio::task::spawn_blocking(move || run(&[], &format!("{request}\n"), &[]))
            .await
            .unwrap();
        assert_eq!(flow.code, 0, "{}", flow.stderr);
        let flow_kb = logged_peak_rss_kb(&flow.stderr);
        println!(
            "{n} advertisers: state {} MB, peak RSS: Airbyte read {} MB ({state_lines} state \
             line(s)), Flow open {} MB",
            state_bytes >> 20,
            airbyte_kb >> 10,
            flow_kb >> 10,
        );
        peaks.push((airbyte_kb, flow_kb));
    }
    // Ten times the advertisers, at most about ten times the memory; a million under 300 MB.
    for (small, large) in [(peaks[0].0, peaks[1].0), (peaks[0].1, peaks[1].1)] {
        assert!(large < small * 11, "{peaks:?}");
        assert!(large < STATE_MEMORY_BOUND_KB, "{peaks:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rows the query did not ask for
// ---------------------------------------------------------------------------------------------

/// Another ad account, never asked about: its rows must not reach this capture.
const STRANGER: u64 = 7_000_000_000_000_000_099;

/// One advertiser-level report row.
fn report_row(account: u64, day: &str, spend: &str) -> Value {
    json!({"dimensions": {"advertiser_id": account.to_string(),
        "stat_time_day": format!("{day} 00:00:00")}, "metrics": {"spend": spend}})
}

/// A report answer of `rows`, one page.
fn report_page(rows: Vec<Value>) -> ResponseTemplate {
    let n = rows.len();
    ok(json!({"list": rows, "page_info":
        {"page": 1, "page_size": 1000, "total_number": n, "total_page": 1}}))
}

/// A proxy (or an API fault) that mixes answers: every report query, the activity index's and
/// the stream's, gets the asked account's rows plus a row of another account and a row of a
/// day outside the window. Only the asked account's rows of the asked days are emitted; each
/// query that had others says so once, naming the account and the day.
#[tokio::test(flavor = "multi_thread")]
async fn rows_of_another_account_or_outside_the_window_are_dropped_with_one_warning() {
    let server = MockServer::start().await;
    mount_info(&server).await;
    Mock::given(path(api("report/integrated/get/")))
        .respond_with(report_page(vec![
            report_row(ADVERTISER, "2024-01-02", "1.00"),
            report_row(STRANGER, "2024-01-02", "5.00"),
            report_row(ADVERTISER, "2023-06-01", "7.00"),
            report_row(ADVERTISER, "2024-01-03", "2.00"),
        ]))
        .mount(&server)
        .await;
    // No ads or campaigns to count or split by.
    for endpoint in ["ad/get/", "campaign/get/"] {
        Mock::given(path(api(endpoint)))
            .respond_with(report_page(vec![]))
            .mount(&server)
            .await;
    }
    catch_all(&server).await;
    let mut config = one_advertiser(&server.uri());
    config["end_date"] = json!("2024-01-05");
    let out = read_binary(config, &["advertisers_reports_daily"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_secret(&out);
    let rows: Vec<(String, String)> = records(&out.stdout)
        .iter()
        .map(|r| {
            (
                r["advertiser_id"].to_string(),
                r["stat_time_day"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (ADVERTISER.to_string(), "2024-01-02 00:00:00".to_string()),
            (ADVERTISER.to_string(), "2024-01-03 00:00:00".to_string()),
        ],
        "{}",
        out.stderr
    );
    for record in records(&out.stdout) {
        assert!(
            !record.to_string().contains(&STRANGER.to_string()),
            "{record}"
        );
    }
    let warnings = crate::common::logs_saying(&out.stderr, "rows it did not ask for");
    // The stream's one query: one warning, naming what was dropped.
    let of_stream: Vec<&Value> = warnings
        .iter()
        .filter(|w| w["stream"] == "advertisers_reports_daily")
        .collect();
    assert_eq!(of_stream.len(), 1, "{warnings:#?}");
    assert_eq!(of_stream[0]["dropped_rows"], 2);
    assert_eq!(of_stream[0]["other_accounts"], STRANGER.to_string());
    assert_eq!(of_stream[0]["days_outside"], "2023-06-01");
    assert_eq!(of_stream[0]["window"], "2024-01-01 to 2024-01-05");
    // The activity index dropped them too (and then read every day rather than trust it).
    assert!(
        warnings.iter().any(|w| w["stream"] == "activity index"),
        "{warnings:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Creation dates and cursors TikTok could not have made
// ---------------------------------------------------------------------------------------------

/// A server whose one account was created at `create_time` (absent when `Null`) and whose
/// every report query (the activity index's and the stream's) answers one active row, on the
/// first day it asks for, so every window is queried.
async fn created_at(create_time: Value) -> MockServer {
    let server = MockServer::start().await;
    let mut info = json!({"advertiser_id": ADVERTISER, "name": "Acme", "timezone": "Etc/GMT"});
    if !create_time.is_null() {
        info["create_time"] = create_time;
    }
    Mock::given(path(api("advertiser/info/")))
        .respond_with(ok(json!({ "list": [info] })))
        .mount(&server)
        .await;
    Mock::given(path(api("report/integrated/get/")))
        .respond_with(|req: &Request| {
            let first = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "start_date")
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| "2016-09-01".into());
            report_page(vec![report_row(ADVERTISER, &first, "1.00")])
        })
        .mount(&server)
        .await;
    for endpoint in ["ad/get/", "campaign/get/"] {
        Mock::given(path(api(endpoint)))
            .respond_with(report_page(vec![]))
            .mount(&server)
            .await;
    }
    catch_all(&server).await;
    server
}

/// The `start_date` of every report query the server received.
async fn report_starts(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("report/integrated/get/"))
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "start_date")
                .map(|(_, v)| v.to_string())
        })
        .collect()
}

/// A creation time TikTok could not have made (0, negative, year 0, 2099, 9999, milliseconds
/// read as seconds) used to start reports in 1969 or earlier (hundreds of queries) or, in the
/// future, to read nothing without a word. Now it is named in one warning and not used: reports
/// start where TikTok Ads began (2016-09-01, without a start date), with the queries that range
/// needs. A state cursor of year 1 is clamped the same way, and said.
#[tokio::test(flavor = "multi_thread")]
async fn impossible_creation_dates_and_cursors_are_clamped_with_one_warning() {
    // 2016-09-01 to 2017-01-31: five 30-day windows and a day.
    let windows = 6;
    let year_0 = -62_167_219_200i64;
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("zero", json!(0), None),
        ("negative", json!(-1_000_000_000), None),
        ("year 0", json!(year_0), None),
        ("2099", json!(4_070_908_800u64), None),
        ("9999", json!("253402214400"), None),
        ("milliseconds", json!(1_704_067_200_000u64), None),
        ("cursor of year 1", Value::Null, Some("0001-01-01")),
    ];
    for (what, create_time, cursor) in cases {
        let server = created_at(create_time.clone()).await;
        let mut config = one_advertiser(&server.uri());
        config.as_object_mut().unwrap().remove("start_date");
        config["end_date"] = json!("2017-01-31");
        let state = cursor.map(|c| {
            json!({"advertisers_reports_daily":
                {"advertisers": {ADVERTISER.to_string(): {"cursor": c}}}})
        });
        let started = Instant::now();
        let out = read_binary(config, &["advertisers_reports_daily"], state).await;
        assert!(started.elapsed() < Duration::from_secs(60), "{what}");
        assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        assert_no_secret(&out);
        let starts = report_starts(&server).await;
        // The activity index and the stream each read the clamped range once, no more.
        let first = starts.iter().min().map(String::as_str);
        assert!(
            starts.len() <= 2 * windows,
            "{what}: {} queries, from {first:?}",
            starts.len()
        );
        assert_eq!(first, Some("2016-09-01"), "{what}: {starts:?}");
        assert!(!records(&out.stdout).is_empty(), "{what}: {}", out.stderr);
        let (needle, value) = match cursor {
            Some(c) => ("The state's cursor", c.to_string()),
            None => ("creation time", create_time.to_string()),
        };
        let warnings: Vec<&str> = out.stderr.lines().filter(|l| l.contains(needle)).collect();
        assert_eq!(warnings.len(), 1, "{what}: {}", out.stderr);
        let value = value.trim_matches('"');
        assert!(
            warnings[0].contains(value) && warnings[0].contains(&ADVERTISER.to_string()),
            "{what}: {}",
            warnings[0]
        );
    }
}

/// The streams and the future cursors of the test below: a report day, an entity time.
const FUTURE_CURSORS: [(&str, &str); 2] = [
    ("advertisers_reports_daily", "2099-01-01"),
    ("campaigns", "9999-12-31 23:59:59"),
];

/// A state cursor in the future (2099, 9999: a clock that was wrong, a state edited by hand)
/// used to be refused, so the stream never ran again until someone reset it; a state cursor
/// believed would have skipped every row until its date. Now it is not used, with one warning
/// per stream naming the account and the value: the account's reports are read from
/// `start_date` and its entities whole, as on a first run, and the state written afterwards
/// holds the new cursors. Airbyte `read` and Flow `open` alike.
#[tokio::test(flavor = "multi_thread")]
async fn future_state_cursors_are_not_used_with_one_warning_in_both_protocols() {
    let state: serde_json::Map<String, Value> = FUTURE_CURSORS
        .iter()
        .map(|(stream, cursor)| {
            (
                stream.to_string(),
                json!({"advertisers": {ADVERTISER.to_string(): {"cursor": cursor}}}),
            )
        })
        .collect();
    let streams: Vec<&str> = FUTURE_CURSORS.iter().map(|(s, _)| *s).collect();
    for protocol in ["airbyte", "flow"] {
        let server = created_at(json!(1_704_067_200)).await;
        Mock::given(path(api("campaign/get/")))
            .respond_with(ok(json!({"list": [{"campaign_id": "3",
                "advertiser_id": ADVERTISER, "modify_time": "2024-03-01 10:00:00"}],
                "page_info": {"page": 1, "page_size": 1000, "total_number": 1,
                "total_page": 1}})))
            .with_priority(1)
            .mount(&server)
            .await;
        let mut config = one_advertiser(&server.uri());
        config["end_date"] = json!("2024-01-31");
        let (out, rows, cursors) = if protocol == "airbyte" {
            let out = read_binary(config, &streams, Some(Value::Object(state.clone()))).await;
            let mut cursors = serde_json::Map::new();
            for line in out.stdout.iter().filter(|m| m["type"] == "STATE") {
                let stream = &line["state"]["stream"];
                cursors.insert(
                    stream["stream_descriptor"]["name"].as_str().unwrap().into(),
                    stream["stream_state"]["advertisers"][ADVERTISER.to_string()]["cursor"].clone(),
                );
            }
            let rows: Vec<Value> = records(&out.stdout).into_iter().cloned().collect();
            (out, rows, Value::Object(cursors))
        } else {
            let flow_state = json!({"bindingStateV1": state.clone()});
            let streams: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
            let session = tokio::task::spawn_blocking(move || {
                let streams: Vec<&str> = streams.iter().map(String::as_str).collect();
                crate::common::flow_session(&config, &streams, &flow_state, &[])
            })
            .await
            .unwrap();
            let cursors: serde_json::Map<String, Value> = FUTURE_CURSORS
                .iter()
                .map(|(stream, _)| {
                    let entry = &session.state["bindingStateV1"][stream]["advertisers"];
                    (
                        stream.to_string(),
                        entry[ADVERTISER.to_string()]["cursor"].clone(),
                    )
                })
                .collect();
            let rows: Vec<Value> = session.docs.into_iter().map(|(_, doc)| doc).collect();
            (session.output, rows, Value::Object(cursors))
        };
        assert_eq!(out.code, 0, "{protocol}: {}", out.stderr);
        assert_no_secret(&out);
        // Reports from start_date; the campaign read whole.
        let starts = report_starts(&server).await;
        assert_eq!(
            starts.iter().min().map(String::as_str),
            Some("2024-01-01"),
            "{protocol}: {starts:?}"
        );
        assert!(
            rows.iter()
                .any(|r| r["campaign_id"].to_string().trim_matches('"') == "3"),
            "{protocol}: {rows:?}"
        );
        assert!(
            rows.iter().any(|r| r["stat_time_day"].is_string()),
            "{protocol}: {rows:?}"
        );
        // The state afterwards holds this run's cursors, not the future ones.
        assert_eq!(
            cursors,
            json!({"advertisers_reports_daily": "2024-01-31",
                   "campaigns": "2024-03-01 10:00:00"}),
            "{protocol}"
        );
        // One warning per stream, naming it, the account and the value.
        let warnings: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("lies in the future"))
            .collect();
        assert_eq!(warnings.len(), 2, "{protocol}: {}", out.stderr);
        for (stream, cursor) in FUTURE_CURSORS {
            assert!(
                warnings.iter().any(|w| w.contains(stream)
                    && w.contains(cursor)
                    && w.contains(&ADVERTISER.to_string())),
                "{protocol}: {stream} {cursor}: {warnings:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One give-up budget per run
// ---------------------------------------------------------------------------------------------

/// A server that refuses everything (endless HTTP 429, or 503) used to keep a run alive for the
/// give-up budget once per query: the advertiser details, the activity index's two queries and
/// each report query each got their own ten minutes (1,913 s for one account). The budget is
/// the run's: once no request has succeeded for it, every request gives up, and the run ends
/// with the error after about one budget (here shortened to 3 s).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_everything_ends_the_run_after_one_budget() {
    for status in [429u16, 503] {
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(status).set_body_string("go away"))
            .mount(&server)
            .await;
        let budget = Duration::from_secs(3);
        let options = ClientOptions {
            give_up_after: budget,
            ..quick()
        };
        let config = one_advertiser(&server.uri());
        let started = Instant::now();
        let out = crate::common::read_in_process(
            &config,
            &catalog(&["advertisers_reports_daily"]),
            None,
            options,
        )
        .await;
        let elapsed = started.elapsed();
        assert_ne!(out.code, 0, "{status}: {}", out.stdout_text);
        assert_no_secret(&out);
        assert!(
            out.stdout_text.contains("kept failing for"),
            "{status}: {}",
            out.stdout_text
        );
        // One budget and the retries' small pauses, not one budget per query.
        assert!(
            elapsed < budget * 2,
            "{status}: {elapsed:?} for a budget of {budget:?}"
        );
        let asked = server.received_requests().await.unwrap().len();
        assert!(asked > 3, "{status}: {asked} requests");
    }
}
