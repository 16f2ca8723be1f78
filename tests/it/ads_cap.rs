//! The 20,000-ads cap against servers that list ads badly: an `ad/get/` that counts more ads
//! than one report processes but lists ads without parents, or none at all. A report then falls
//! back to a split by campaign (which covers every ad, listed or not), or to one unsplit query
//! with a warning, and never ends without the requests its windows need.

use crate::common::{flow_session, sim_config};
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param_contains};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ADVERTISER: &str = "7000000000000000001";

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "OK",
        "request_id": "test", "data": data}))
}

/// A server with one advertiser whose `ad/get/` counts `total` ads and lists `ads`, whose
/// `campaign/get/` lists `campaigns`, and whose report answers one row per query.
async fn server(total: u64, ads: Vec<Value>, campaigns: Vec<Value>) -> MockServer {
    let server = one_advertiser().await;
    let listed = ads.len() as u64;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/ad/get/"))
        .respond_with(ok(
            json!({"list": ads, "page_info": {"page": 1, "page_size": 1000,
            "total_number": total, "total_page": 1.max(listed.div_ceil(1000))}}),
        ))
        .mount(&server)
        .await;
    let n = campaigns.len();
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/campaign/get/"))
        .respond_with(ok(json!({"list": campaigns, "page_info": {"page": 1,
            "page_size": 1000, "total_number": n, "total_page": 1}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(ok(json!({"list": [{"dimensions": {"ad_id": "11"},
            "metrics": {"spend": "1.00"}}],
            "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1}})))
        .mount(&server)
        .await;
    server
}

/// A server with the one advertiser (at UTC) and no TopView campaign or ad.
async fn one_advertiser() -> MockServer {
    let server = MockServer::start().await;
    no_topview(&server).await;
    let info = json!({"list": [{"advertiser_id": ADVERTISER, "name": "A", "timezone": "Etc/GMT",
        "create_time": 1_700_000_000}]});
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(info))
        .mount(&server)
        .await;
    server
}

/// The account has no TopView ads or campaigns.
async fn no_topview(server: &MockServer) {
    for endpoint in ["ad/get/", "campaign/get/"] {
        Mock::given(method("GET"))
            .and(path(format!("/open_api/v1.3/{endpoint}")))
            .and(query_param_contains("filtering", "RESERVATION_TOP_VIEW"))
            .respond_with(ok(
                json!({"list": [], "page_info": {"page": 1, "page_size": 100,
                "total_number": 0, "total_page": 0}}),
            ))
            .with_priority(1)
            .mount(server)
            .await;
    }
}

/// The `filtering` of every report request the server received.
async fn report_filters(server: &MockServer) -> Vec<Vec<Value>> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("report/integrated/get/"))
        // The activity index's own advertiser-level query is not the report's.
        .filter(|r| {
            !r.url
                .query_pairs()
                .any(|(k, v)| k == "data_level" && v == "AUCTION_ADVERTISER")
        })
        .map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "filtering")
                .map(|(_, v)| serde_json::from_str(&v).unwrap())
                .unwrap_or_default()
        })
        .collect()
}

/// A Flow capture of `ads_reports_lifetime` against the server.
async fn capture(server: &MockServer) -> crate::common::Session {
    capture_stream(server, "ads_reports_lifetime").await
}

/// A Flow capture of one stream of the one advertiser against the server (blocking: run it off
/// the runtime that serves the mocks).
async fn capture_stream(server: &MockServer, stream: &'static str) -> crate::common::Session {
    let uri = server.uri();
    tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &uri,
            "2024-01-01",
            json!({"advanced": {"advertiser_ids": [ADVERTISER]}}),
        );
        flow_session(&cfg, &[stream], &json!({}), &[])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ads_without_parents_and_an_incomplete_listing_fall_back_to_a_split_by_campaign() {
    // TikTok counts 50,000 ads but lists two, without campaign or ad group.
    let ads = vec![json!({"ad_id": "11"}), json!({"ad_id": "12"})];
    let campaigns: Vec<Value> = (1..=150)
        .map(|c| json!({"campaign_id": (1000 + c).to_string()}))
        .collect();
    let server = server(50_000, ads, campaigns).await;
    let session = capture(&server).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let filters = report_filters(&server).await;
    // 150 campaigns, 100 per filter: two queries, every campaign in one of them.
    assert_eq!(filters.len(), 2, "{filters:?}");
    let mut named = Vec::new();
    for f in &filters {
        let split = f
            .iter()
            .find(|x| x["field_name"] == "campaign_ids")
            .unwrap_or_else(|| panic!("not split by campaign: {f:?}"));
        let ids: Vec<String> =
            serde_json::from_str(split["filter_value"].as_str().unwrap()).unwrap();
        assert!(ids.len() <= 100);
        named.extend(ids);
    }
    named.sort();
    let expected: Vec<String> = (1..=150).map(|c| (1000 + c).to_string()).collect();
    assert_eq!(named, expected);
    assert_eq!(session.docs.len(), 2, "one row per query");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_count_over_the_cap_with_nothing_listed_still_queries_and_says_why() {
    // A huge count (no allocation follows it) and nothing to split by.
    let server = server(u64::MAX, Vec::new(), Vec::new()).await;
    let session = capture(&server).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let filters = report_filters(&server).await;
    assert_eq!(filters.len(), 1, "one unsplit query: {filters:?}");
    assert!(filters[0]
        .iter()
        .all(|f| !f["field_name"].as_str().unwrap().ends_with("_ids")));
    assert_eq!(session.docs.len(), 1);
    assert!(
        session
            .output
            .stderr
            .contains("lists no usable ad or campaign to split by"),
        "{}",
        session.output.stderr
    );
}

/// An answer marked `X-Tt-Ads-Throttle` is never emitted as it is: the report is narrowed, and
/// when nothing narrower exists (one ad), its rows are kept with a warning, not silently.
#[tokio::test(flavor = "multi_thread")]
async fn a_capped_answer_is_narrowed_or_kept_with_a_warning() {
    let server = one_ad_capped_server(json!({"ad_id": "11"})).await;
    let session = capture(&server).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let filters = report_filters(&server).await;
    // Unsplit (capped), then by its one campaign (capped, and nothing narrower at one ad),
    // then that last query again, its rows kept.
    assert!(filters.len() >= 3, "{filters:?}");
    assert_eq!(session.docs.len(), 1, "the capped rows are emitted once");
    assert!(session
        .output
        .stderr
        .contains("no id filter can narrow it further"));
}

/// The client exposes `X-Tt-Ads-Throttle` on every page it returns: present with a value is
/// "capped", absent or `0` is not.
#[tokio::test]
async fn the_client_exposes_the_ads_throttle_header() {
    use source_tiktok_marketing::client::{ClientOptions, Paging, TikTokClient};
    let server = MockServer::start().await;
    let page = |throttle: Option<&str>| {
        let answer = ok(json!({"list": [], "page_info": {"page": 1, "page_size": 10,
            "total_number": 0, "total_page": 0}}));
        match throttle {
            Some(v) => answer.insert_header("X-Tt-Ads-Throttle", v),
            None => answer,
        }
    };
    for (advertiser, throttle) in [("1", Some("1")), ("2", None), ("3", Some("0"))] {
        Mock::given(method("GET"))
            .and(path("/open_api/v1.3/report/integrated/get/"))
            .and(wiremock::matchers::query_param("advertiser_id", advertiser))
            .respond_with(page(throttle))
            .mount(&server)
            .await;
    }
    let cfg =
        source_tiktok_marketing::config::parse(&sim_config(&server.uri(), "2024-01-01", json!({})))
            .unwrap();
    let client = TikTokClient::new(&cfg, ClientOptions::default()).unwrap();
    for (advertiser, expected) in [("1", true), ("2", false), ("3", false)] {
        let params = vec![("advertiser_id", advertiser.to_string())];
        let page = client
            .page("report/integrated/get/", &params, "list", Paging::first(10))
            .await
            .unwrap();
        assert_eq!(page.ads_throttled, expected, "advertiser {advertiser}");
    }
}

/// A token that may read reports but not list ads (`ad/get/` answers 40001): reports still run,
/// TopView delivery included, and say why they cannot be split ahead of the cap.
#[tokio::test(flavor = "multi_thread")]
async fn reports_go_on_when_the_token_cannot_list_ads() {
    use source_tiktok_marketing::capture::report::{filtering, BuyingScope};
    use source_tiktok_marketing::registry;
    use tiktok_sim::{catalog, DataShape, Fault, FaultRule, Faults, ReportQuery, SimConfig};

    let probe = SimConfig {
        data: DataShape {
            advertisers: 2,
            campaigns_per_advertiser: 6,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let denied = tiktok_sim::Model::new(&probe).advertiser_ids()[1];
    let sim = tiktok_sim::spawn(SimConfig {
        record_requests: true,
        faults: Faults {
            rules: vec![FaultRule {
                fault: Fault::NoPermission {
                    advertiser_id: denied,
                },
                every: 1,
                paths: Some(vec!["ad/get/".into()]),
            }],
            ..probe.faults
        },
        ..probe
    })
    .await
    .unwrap();
    let uri = sim.base_url();
    let session = tokio::task::spawn_blocking(move || {
        let cfg = sim_config(&uri, "2024-01-01", json!({}));
        flow_session(&cfg, &["campaigns_reports_lifetime"], &json!({}), &[])
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert!(session
        .output
        .stderr
        .contains("cannot list the ad account's ads"));
    // Every campaign row of the model, TopView's included, for both accounts.
    let cfg = source_tiktok_marketing::config::parse(&sim_config(
        &sim.base_url(),
        "2024-01-01",
        json!({}),
    ))
    .unwrap();
    let spec = registry::resolve("campaigns_reports_lifetime", &cfg)
        .unwrap()
        .report()
        .unwrap()
        .clone();
    let mut expected = std::collections::BTreeSet::new();
    for advertiser in sim.model().advertiser_ids() {
        for scope in [BuyingScope::AuctionAndReachFrequency, BuyingScope::TopView] {
            let mut filters = filtering(&spec, true, None);
            filters.extend(scope.report_filter());
            let rows = sim
                .model()
                .report_rows(&ReportQuery {
                    advertiser_id: advertiser,
                    report_type: catalog::ReportType::Basic,
                    level: catalog::Level::Campaign,
                    dimensions: spec.dimensions.clone(),
                    metrics: spec.metrics.clone(),
                    start_date: None,
                    end_date: None,
                    lifetime: true,
                    filtering: filters,
                })
                .unwrap();
            expected.extend(
                rows.iter()
                    .map(|r| r["dimensions"]["campaign_id"].as_str().unwrap().to_string()),
            );
        }
    }
    let got: std::collections::BTreeSet<String> = session
        .docs
        .iter()
        .map(|(_, d)| d["campaign_id"].to_string())
        .collect();
    assert_eq!(got, expected);
    let topview_of_denied = sim.requests().iter().any(|r| {
        r.path == "report/integrated/get/"
            && r.params.get("advertiser_id") == Some(&denied.to_string())
            && r.params
                .get("filtering")
                .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))
    });
    assert!(topview_of_denied);
}

/// A server with one advertiser, one campaign and one ad, whose every report answers one row
/// (these `dimensions`, spend 1.00) marked `X-Tt-Ads-Throttle`: over the cap, whatever the
/// filter.
async fn one_ad_capped_server(dimensions: Value) -> MockServer {
    let server = one_advertiser().await;
    for (endpoint, list) in [
        (
            "ad/get/",
            json!([{"ad_id": "11", "adgroup_id": "21", "campaign_id": "31"}]),
        ),
        ("campaign/get/", json!([{"campaign_id": "31"}])),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/open_api/v1.3/{endpoint}")))
            .respond_with(ok(json!({"list": list, "page_info": {"page": 1,
                "page_size": 1000, "total_number": 1, "total_page": 1}})))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(
            ok(
                json!({"list": [{"dimensions": dimensions, "metrics": {"spend": "1.00"}}],
                "page_info": {"page": 1, "page_size": 1000, "total_number": 1,
                "total_page": 1}}),
            )
            .insert_header("X-Tt-Ads-Throttle", "1"),
        )
        .mount(&server)
        .await;
    server
}

/// An advertiser-level report over the cap (no id filter exists at that level) on a server with
/// TikTok's asynchronous report tasks: `answer_task` mounts `report/task/*`. The synchronous
/// answer is one capped row with spend 1.00.
async fn advertiser_level_server(answer_task: impl AsyncFnOnce(&MockServer)) -> MockServer {
    let server = one_ad_capped_server(json!({"advertiser_id": ADVERTISER})).await;
    answer_task(&server).await;
    server
}

/// A CSV of `advertisers_reports_lifetime`'s columns: the account's one row, spend `spend`, the
/// other metrics empty; `title` names each column.
fn lifetime_csv(spend: &str, title: impl Fn(&str) -> String) -> String {
    let cfg = source_tiktok_marketing::config::parse(&sim_config(
        "http://127.0.0.1:9",
        "2024-01-01",
        json!({}),
    ))
    .unwrap();
    let spec = source_tiktok_marketing::registry::resolve("advertisers_reports_lifetime", &cfg)
        .unwrap()
        .report()
        .unwrap()
        .clone();
    let columns: Vec<&String> = spec.dimensions.iter().chain(&spec.metrics).collect();
    let header: Vec<String> = columns.iter().map(|c| title(c)).collect();
    let cells: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "advertiser_id" => ADVERTISER.to_string(),
            "spend" => spend.to_string(),
            _ => String::new(),
        })
        .collect();
    format!("{}\n{}\n", header.join(","), cells.join(","))
}

async fn mount_task(
    server: &MockServer,
    create: ResponseTemplate,
    status: Value,
    file: ResponseTemplate,
) {
    Mock::given(method("POST"))
        .and(path("/open_api/v1.3/report/task/create/"))
        .respond_with(create)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/task/check/"))
        .respond_with(ok(status))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/task/download/"))
        .respond_with(file)
        .mount(server)
        .await;
}

/// [`advertiser_level_server`] whose task `task_id` has `status`, and whose file holds spend
/// 2.50.
async fn task_server(task_id: &str, status: &str) -> MockServer {
    advertiser_level_server(async |server| {
        let file = csv_file(lifetime_csv("2.50", str::to_string));
        let created = ok(json!({ "task_id": task_id }));
        mount_task(server, created, json!({ "status": status }), file).await;
    })
    .await
}

fn csv_file(text: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(text.into_bytes(), "text/csv")
}

async fn capture_advertiser_lifetime(server: &MockServer) -> crate::common::Session {
    capture_stream(server, "advertisers_reports_lifetime").await
}

/// The body of every `report/task/create/` the server received.
async fn task_bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("report/task/create/"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

/// TikTok's asynchronous reports have no ads cap (Reporting FAQ, portal doc 1738864850353154):
/// an advertiser-level report over the cap is read whole through a task that mirrors the
/// synchronous query, and the capped answer is not emitted.
#[tokio::test(flavor = "multi_thread")]
async fn an_advertiser_report_over_the_cap_is_read_whole_through_a_task() {
    let server = task_server("t-1", "SUCCESS").await;
    let session = capture_advertiser_lifetime(&server).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert_eq!(session.docs.len(), 1, "{:?}", session.docs);
    let doc = &session.docs[0].1;
    assert_eq!(doc["metrics"]["spend"].to_string(), "2.50", "{doc}");
    assert_eq!(doc["advertiser_id"].to_string(), ADVERTISER);
    assert!(!session
        .output
        .stderr
        .contains("X-Tt-Ads-Throttle), no id filter"));
    let bodies = task_bodies(&server).await;
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let body = &bodies[0];
    assert_eq!(body["advertiser_id"], ADVERTISER);
    assert_eq!(body["data_level"], "AUCTION_ADVERTISER");
    assert_eq!(body["query_lifetime"], true);
    assert_eq!(body["enable_report_title_translation"], false);
    assert_eq!(body["output_format"], "CSV_STRING");
    assert!(body.get("filtering").is_none(), "{body}");
    // The check and the download name the task and its account.
    let requests = server.received_requests().await.unwrap();
    for endpoint in ["report/task/check/", "report/task/download/"] {
        let asked = requests
            .iter()
            .find(|r| r.url.path().ends_with(endpoint))
            .unwrap_or_else(|| panic!("{endpoint} never asked"));
        let params: std::collections::HashMap<_, _> = asked.url.query_pairs().collect();
        assert_eq!(params["task_id"], "t-1");
        assert_eq!(params["advertiser_id"], ADVERTISER);
    }
}

/// A task TikTok refuses for a metric it names (40002 "Invalid metric fields") is asked again
/// without it, and its report is read whole through the task, not from the capped answer: the
/// metric is left empty, with one warning.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_refused_for_a_metric_it_names_is_asked_again_without_it() {
    const REFUSED: &str = "real_time_app_install";
    let server = advertiser_level_server(async |server| {
        // TikTok's file of the task asked without the metric: no column of it.
        let text = lifetime_csv("2.50", str::to_string);
        let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
        let column = lines[0].iter().position(|c| *c == REFUSED).unwrap();
        let file: String = lines
            .iter()
            .map(|cells| {
                let mut cells = cells.clone();
                cells.remove(column);
                cells.join(",") + "\n"
            })
            .collect();
        Mock::given(method("POST"))
            .and(path("/open_api/v1.3/report/task/create/"))
            .respond_with(|req: &wiremock::Request| {
                let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
                let asks = body["metrics"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m == REFUSED));
                if asks {
                    ResponseTemplate::new(200).set_body_json(json!({"code": 40002,
                        "message": format!("Invalid metric fields: ['{REFUSED}']"),
                        "request_id": "r", "data": {}}))
                } else {
                    ok(json!({"task_id": "t-2"}))
                }
            })
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/open_api/v1.3/report/task/check/"))
            .respond_with(ok(json!({"status": "SUCCESS"})))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/open_api/v1.3/report/task/download/"))
            .respond_with(csv_file(file))
            .mount(server)
            .await;
    })
    .await;
    let session = capture_advertiser_lifetime(&server).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    assert_eq!(session.docs.len(), 1, "{:?}", session.docs);
    let doc = &session.docs[0].1;
    assert_eq!(doc["metrics"]["spend"].to_string(), "2.50", "{doc}");
    assert!(doc["metrics"].get(REFUSED).is_none(), "{doc}");
    assert!(
        !stderr.contains("X-Tt-Ads-Throttle), no id filter"),
        "{stderr}"
    );
    let warnings = crate::common::logs_saying(stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert_eq!(warnings[0]["metrics"], REFUSED);
    // The refused task, then the same task without the metric.
    let bodies = task_bodies(&server).await;
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let mut first = bodies[0].clone();
    let metrics = first["metrics"].as_array_mut().unwrap();
    assert!(metrics.iter().any(|m| m == REFUSED));
    metrics.retain(|m| m != REFUSED);
    assert_eq!(first, bodies[1]);
}

/// A server that refuses, fails, garbles or mislabels the task: the capped synchronous rows are
/// emitted once, and the warning says why no task could replace them.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_cannot_be_run_falls_back_to_the_capped_answer_and_says_why() {
    let good_file = || csv_file(lifetime_csv("2.50", str::to_string));
    // Where a hostile download answer points: a server of its own, which must hear nothing.
    let elsewhere = MockServer::start().await;
    let file_elsewhere = format!("{}/file.csv", elsewhere.uri());
    let cases: Vec<(&str, ResponseTemplate, Value, ResponseTemplate)> = vec![
        (
            "allowlist",
            ResponseTemplate::new(200).set_body_json(json!({"code": 40001,
                "message": "No permission to operate", "request_id": "r", "data": {}})),
            json!({"status": "SUCCESS"}),
            good_file(),
        ),
        (
            "no usable task_id",
            ok(json!({"task_id": {"id": 1}})),
            json!({"status": "SUCCESS"}),
            good_file(),
        ),
        (
            "the disk is full",
            ok(json!({"task_id": "t"})),
            json!({"status": "FAILED", "message": "the disk is full"}),
            good_file(),
        ),
        (
            "ended \\\"LOST\\\"",
            ok(json!({"task_id": "t"})),
            json!({"status": "LOST"}),
            good_file(),
        ),
        (
            "has no column \\\"advertiser_id\\\"",
            ok(json!({"task_id": "t"})),
            json!({"status": "SUCCESS"}),
            csv_file(lifetime_csv("2.50", |c| c.replace('_', " ").to_uppercase())),
        ),
        (
            "an envelope where a file was expected",
            ok(json!({"task_id": "t"})),
            json!({"status": "SUCCESS"}),
            ok(json!({"download_url": file_elsewhere, "output_format": "CSV_DOWNLOAD"})),
        ),
    ];
    for (why, create, status, file) in cases {
        let server = advertiser_level_server(async |server| {
            mount_task(server, create, status, file).await;
        })
        .await;
        let session = capture_advertiser_lifetime(&server).await;
        assert_eq!(session.output.code, 0, "{why}: {}", session.output.stderr);
        assert_eq!(session.docs.len(), 1, "{why}: {:?}", session.docs);
        assert_eq!(
            session.docs[0].1["metrics"]["spend"].to_string(),
            "1.00",
            "{why}"
        );
        let stderr = &session.output.stderr;
        assert_eq!(
            stderr.matches("no asynchronous report task").count(),
            1,
            "{why}: {stderr}"
        );
        assert!(stderr.contains(why), "{why}: {stderr}");
        assert_eq!(task_bodies(&server).await.len(), 1, "{why}: one task");
        // Nothing was fetched from where the server pointed, nor logged.
        assert!(!stderr.contains("file.csv"), "{why}");
    }
    let fetched = elsewhere.received_requests().await.unwrap_or_default();
    assert!(fetched.is_empty(), "{fetched:?}");
}

/// One ad account of 24 ads (4 campaigns x 2 ad groups x 3 ads) over 3 days, against a cap of
/// 5 ads, its requests recorded; asynchronous tasks allowlisted or not, failing or not.
fn one_account_over_a_cap_of_5(allowlisted: bool, task_fails: bool) -> tiktok_sim::SimConfig {
    use tiktok_sim::{ApiBehaviour, AsyncReports, DataShape, SimConfig};
    SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 4,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 3,
            days: 3,
            ..Default::default()
        },
        api: ApiBehaviour {
            ads_cap: 5,
            ..Default::default()
        },
        async_reports: AsyncReports {
            allowlisted,
            task_fails,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// Against the simulator, an hourly advertiser-level report over the cap: with an allowlisted
/// app every day is read through one task for the three days, the capped answer asked only
/// until the first day's told it to use tasks and never emitted; without, the app asks for a
/// task once for the whole run, each day's capped answer is emitted, asked once a day once that
/// is known, and one warning says why. A task TikTok fails sends its report back to the capped
/// answer too.
#[tokio::test(flavor = "multi_thread")]
async fn over_the_cap_each_day_is_read_the_way_the_first_was() {
    use tiktok_sim::{ApiBehaviour, Model, SimConfig};
    for (allowlisted, fails) in [(true, false), (false, false), (true, true)] {
        let account = one_account_over_a_cap_of_5(allowlisted, fails);
        let truth = Model::new(&SimConfig {
            api: ApiBehaviour {
                ads_cap: usize::MAX,
                ..account.clone().api
            },
            ..account.clone()
        });
        let sim = tiktok_sim::spawn(account).await.unwrap();
        let first = sim.model().first_day();
        let last = first.succ_opt().unwrap().succ_opt().unwrap();
        let uri = sim.base_url();
        let session = tokio::task::spawn_blocking(move || {
            let cfg = sim_config(
                &uri,
                &first.to_string(),
                json!({"end_date": last.to_string()}),
            );
            flow_session(&cfg, &["advertisers_reports_hourly"], &json!({}), &[])
        })
        .await
        .unwrap();
        let stderr = &session.output.stderr;
        assert_eq!(session.output.code, 0, "{stderr}");
        let requests = sim.requests();
        let refused: Vec<_> = requests
            .iter()
            .filter(|r| r.code != 0 && r.path != "report/task/create/")
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
        // The stream's own queries (the activity index asks other metrics).
        let hourly = |path: &str| {
            requests
                .iter()
                .filter(|r| r.path == path)
                .filter(|r| {
                    r.params
                        .get("dimensions")
                        .is_some_and(|d| d.contains("stat_time_hour"))
                })
                .filter(|r| {
                    r.params
                        .get("metrics")
                        .is_some_and(|m| m.contains("video_views_p25"))
                })
                .count()
        };
        let creates = hourly("report/task/create/");
        let synchronous = hourly("report/integrated/get/");
        let warned = stderr.matches("no asynchronous report task").count();
        // Which hours the model holds, whole: what the emitted rows must be with tasks.
        let spend_of = |rows: Vec<Value>| -> std::collections::BTreeMap<String, String> {
            rows.into_iter()
                .map(|r| {
                    let hour = r["dimensions"]["stat_time_hour"]
                        .as_str()
                        .unwrap()
                        .to_string();
                    (
                        hour,
                        r["metrics"]["spend"]
                            .to_string()
                            .trim_matches('"')
                            .to_string(),
                    )
                })
                .collect()
        };
        // The same from the capped server: the newest ads' totals.
        let hours_of = |model: &Model| {
            let mut hours = std::collections::BTreeMap::new();
            let mut day = first;
            while day <= last {
                hours.extend(spend_of(
                    model
                        .report_rows(&tiktok_sim::ReportQuery {
                            advertiser_id: model.advertiser_ids()[0],
                            report_type: tiktok_sim::catalog::ReportType::Basic,
                            level: tiktok_sim::catalog::Level::Advertiser,
                            dimensions: vec!["advertiser_id".into(), "stat_time_hour".into()],
                            metrics: vec!["spend".into()],
                            start_date: Some(day),
                            end_date: Some(day),
                            lifetime: false,
                            filtering: vec![],
                        })
                        .unwrap(),
                ));
                day = day.succ_opt().unwrap();
            }
            hours
        };
        let whole = hours_of(&truth);
        let capped = hours_of(sim.model());
        assert!(!whole.is_empty());
        let got: std::collections::BTreeMap<String, String> = session
            .docs
            .iter()
            .map(|(_, d)| {
                (
                    d["stat_time_hour"].as_str().unwrap().to_string(),
                    d["metrics"]["spend"].to_string(),
                )
            })
            .collect();
        assert_eq!(got.len(), session.docs.len(), "an hour emitted twice");
        // Two windows run at once, so the second may ask its capped answer before the first
        // knows how to read it; the third never does.
        if allowlisted && !fails {
            // One task reads the three days (asynchronous reports have no time-range limit).
            assert_eq!((creates, warned), (1, 0), "{stderr}");
            let task = requests
                .iter()
                .find(|r| r.path == "report/task/create/")
                .unwrap();
            assert_eq!(task.params["start_date"], first.to_string());
            assert_eq!(task.params["end_date"], last.to_string());
            assert!((1..=2).contains(&synchronous), "{synchronous}");
            assert_eq!(got, whole);
        } else {
            if fails {
                // A failed task: this report falls back from then on (the day read alongside
                // it may have asked too), other reports would still try.
                assert!((1..=2).contains(&creates), "{creates}");
                assert_eq!(warned, 1, "{stderr}");
                assert!(stderr.contains("create it again"), "{stderr}");
            } else {
                // A refused feature is asked about once for the whole run.
                assert_eq!((creates, warned), (1, 1), "{stderr}");
                assert!((4..=5).contains(&synchronous), "{synchronous}");
                assert!(stderr.contains("allowlist"), "{stderr}");
            }
            // The capped answers as they are: the newest ads' hours (a subset of the whole
            // model's: the hours only older ads delivered have no row) and their figures.
            assert_eq!(got, capped);
            assert!(got.keys().all(|hour| whole.contains_key(hour)));
            assert_ne!(got, whole, "the capped figures leave out older ads");
        }
    }
}

/// A task the server never finishes (`PROCESSING` forever): the report falls back to the capped
/// answer when the task deadline passes, instead of waiting without end.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_that_never_finishes_ends_at_its_deadline() {
    let server = task_server("t", "PROCESSING").await;
    let cfg = sim_config(
        &server.uri(),
        "2024-01-01",
        json!({"advanced": {"advertiser_ids": [ADVERTISER]}}),
    );
    let options = source_tiktok_marketing::protocol::RunOptions {
        client: crate::common::quick_retries(),
        capture: source_tiktok_marketing::capture::CaptureOptions {
            task_deadline: std::time::Duration::from_secs(3),
        },
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let session = crate::common::flow_in_process(
        &cfg,
        &["advertisers_reports_lifetime"],
        &json!({}),
        options,
    )
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let stderr = &session.output.stderr;
    assert_eq!(session.docs.len(), 1, "{stderr}");
    assert_eq!(session.docs[0].1["metrics"]["spend"].to_string(), "1.00");
    assert!(
        stderr.contains("had not finished task t after 3 seconds"),
        "{stderr}"
    );
    let checks = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("report/task/check/"))
        .count();
    // 0.5 s, then 1 s: the next wait (2 s) would pass the deadline.
    assert_eq!(checks, 2);
}

/// TikTok's Reporting FAQ allows asynchronous reporting one request per second per app: the
/// create, the check and the download of a task reach the server at least a second apart.
#[tokio::test(flavor = "multi_thread")]
async fn task_requests_reach_the_server_a_second_apart() {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;
    let seen: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let timed = |answer: ResponseTemplate| {
        let seen = seen.clone();
        move |_: &wiremock::Request| {
            seen.lock().unwrap().push(Instant::now());
            answer.clone()
        }
    };
    let file = csv_file(lifetime_csv("2.50", str::to_string));
    let server = advertiser_level_server(async |server| {
        for (verb, endpoint, answer) in [
            ("POST", "create", ok(json!({"task_id": "t"}))),
            ("GET", "check", ok(json!({"status": "SUCCESS"}))),
            ("GET", "download", file),
        ] {
            Mock::given(method(verb))
                .and(path(format!("/open_api/v1.3/report/task/{endpoint}/")))
                .respond_with(timed(answer))
                .mount(server)
                .await;
        }
    })
    .await;
    let session = capture_advertiser_lifetime(&server).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert_eq!(session.docs[0].1["metrics"]["spend"].to_string(), "2.50");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "create, check, download");
    for pair in seen.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= std::time::Duration::from_secs(1),
            "{gap:?} in {seen:?}"
        );
    }
}

/// TikTok's Create an asynchronous report task doc (1740302766489602) lists a known issue:
/// asynchronous reports return `country_code` as the country's name. A report over the cap with
/// that dimension is therefore never asked as a task (its rows would carry other keys); its
/// capped rows are emitted with the warning saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_by_country_is_never_asked_as_a_task() {
    let server = one_ad_capped_server(json!({"advertiser_id": ADVERTISER,
        "stat_time_day": "2024-01-01 00:00:00", "country_code": "US"}))
    .await;
    let file = csv_file(lifetime_csv("2.50", str::to_string));
    mount_task(
        &server,
        ok(json!({"task_id": "t"})),
        json!({"status": "SUCCESS"}),
        file,
    )
    .await;
    let session = capture_stream(&server, "advertisers_audience_reports_by_country_daily").await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    assert!(!session.docs.is_empty(), "{stderr}");
    assert!(session.docs.iter().all(|(_, d)| d["country_code"] == "US"));
    assert!(task_bodies(&server).await.is_empty());
    assert!(
        stderr.contains("country_code as the country's name"),
        "{stderr}"
    );
}

/// A CSV of `advertisers_reports_daily`'s columns: one row per (account, day, spend), the
/// other metrics empty; `extra` is one more column, with its cell in every row.
fn daily_csv(rows: &[(&str, &str, &str)], extra: Option<(&str, &str)>) -> String {
    let cfg = source_tiktok_marketing::config::parse(&sim_config(
        "http://127.0.0.1:9",
        "2024-01-01",
        json!({}),
    ))
    .unwrap();
    let spec = source_tiktok_marketing::registry::resolve("advertisers_reports_daily", &cfg)
        .unwrap()
        .report()
        .unwrap()
        .clone();
    let mut columns: Vec<&str> = spec
        .dimensions
        .iter()
        .chain(&spec.metrics)
        .map(String::as_str)
        .collect();
    columns.extend(extra.map(|(name, _)| name));
    let mut text = format!("{}\n", columns.join(","));
    for (account, day, spend) in rows {
        let cells: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, c)| match (*c, extra) {
                (_, Some((_, cell))) if i + 1 == columns.len() => cell.to_string(),
                ("advertiser_id", _) => account.to_string(),
                ("stat_time_day", _) => format!("{day} 00:00:00"),
                ("spend", _) => spend.to_string(),
                _ => String::new(),
            })
            .collect();
        text.push_str(&cells.join(","));
        text.push('\n');
    }
    text
}

/// A Flow capture of `advertisers_reports_daily` from 2024-01-01 to 2024-01-03 (one window).
async fn capture_three_days(server: &MockServer) -> crate::common::Session {
    let uri = server.uri();
    tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &uri,
            "2024-01-01",
            json!({"end_date": "2024-01-03", "advanced": {"advertiser_ids": [ADVERTISER]}}),
        );
        flow_session(&cfg, &["advertisers_reports_daily"], &json!({}), &[])
    })
    .await
    .unwrap()
}

/// A task file that holds another account's row and a row of a day the task did not ask: only
/// the asked account's rows of the asked days are emitted, and one warning names the rest.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_file_with_rows_not_asked_for_emits_only_the_asked_ones() {
    const STRANGER: &str = "7000000000000000099";
    let server = one_ad_capped_server(
        json!({"advertiser_id": ADVERTISER, "stat_time_day": "2024-01-01 00:00:00"}),
    )
    .await;
    let file = daily_csv(
        &[
            (ADVERTISER, "2024-01-02", "2.50"),
            (STRANGER, "2024-01-02", "5.00"),
            (ADVERTISER, "2023-06-01", "7.00"),
        ],
        None,
    );
    mount_task(
        &server,
        ok(json!({"task_id": "t"})),
        json!({"status": "SUCCESS"}),
        csv_file(file),
    )
    .await;
    let session = capture_three_days(&server).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let rows: Vec<(String, String)> = session
        .docs
        .iter()
        .map(|(_, d)| {
            (
                d["stat_time_day"].as_str().unwrap_or_default().to_string(),
                d["metrics"]["spend"].to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("2024-01-02 00:00:00".to_string(), "2.50".to_string())],
        "{stderr}"
    );
    assert_eq!(task_bodies(&server).await.len(), 1, "{stderr}");
    let warning = stderr
        .lines()
        .find(|l| l.contains("rows it did not ask for") && l.contains("advertisers_reports_daily"))
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert!(
        warning.contains(STRANGER) && warning.contains("2023-06-01"),
        "{warning}"
    );
    assert!(warning.contains("\"dropped_rows\":2"), "{warning}");
}

/// A task file with a column twice (`spend` 2.50 and 9.99) cannot say which is the value: the
/// file is refused and the report falls back to the synchronous answer, saying why.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_file_with_a_column_twice_is_refused_for_the_synchronous_answer() {
    let server = one_ad_capped_server(
        json!({"advertiser_id": ADVERTISER, "stat_time_day": "2024-01-01 00:00:00"}),
    )
    .await;
    let file = daily_csv(
        &[(ADVERTISER, "2024-01-02", "2.50")],
        Some(("spend", "9.99")),
    );
    mount_task(
        &server,
        ok(json!({"task_id": "t"})),
        json!({"status": "SUCCESS"}),
        csv_file(file),
    )
    .await;
    let session = capture_three_days(&server).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    // The capped synchronous row, not either of the file's.
    let spends: Vec<String> = session
        .docs
        .iter()
        .map(|(_, d)| d["metrics"]["spend"].to_string())
        .collect();
    assert_eq!(spends, ["1.00"], "{stderr}");
    assert!(stderr.contains("no asynchronous report task"), "{stderr}");
    assert!(
        stderr.contains("has the column \\\"spend\\\" twice"),
        "{stderr}"
    );
}

/// A task file of 20 MiB, over the client's 16 MiB cap, will be as large on the next try: the
/// download is refused within seconds like any oversize answer (a few quick tries), and the
/// report falls back to the synchronous answer, saying why, instead of retrying for the
/// ten-minute budget.
#[tokio::test(flavor = "multi_thread")]
async fn an_oversize_task_file_falls_back_within_seconds() {
    let server = advertiser_level_server(async |server| {
        let file = ResponseTemplate::new(200).set_body_raw(vec![b'a'; 20 << 20], "text/csv");
        mount_task(
            server,
            ok(json!({"task_id": "t"})),
            json!({"status": "SUCCESS"}),
            file,
        )
        .await;
    })
    .await;
    let started = std::time::Instant::now();
    let session = capture_advertiser_lifetime(&server).await;
    let elapsed = started.elapsed();
    let stderr = &session.output.stderr;
    assert!(
        elapsed < std::time::Duration::from_secs(30),
        "{elapsed:?}: {stderr}"
    );
    assert_eq!(session.output.code, 0, "{stderr}");
    assert_eq!(session.docs.len(), 1, "{stderr}");
    assert_eq!(session.docs[0].1["metrics"]["spend"].to_string(), "1.00");
    assert!(stderr.contains("no asynchronous report task"), "{stderr}");
    assert!(stderr.contains("longer than 16 MiB"), "{stderr}");
}

/// TikTok's daily quota is per path: a QPD on `report/task/create/` ends the task path for the
/// run, and the report falls back to the synchronous answer (whose quota is its own), saying
/// why, instead of ending the stream.
#[tokio::test(flavor = "multi_thread")]
async fn a_daily_quota_of_the_task_endpoint_falls_back_to_the_synchronous_answer() {
    let server = advertiser_level_server(async |server| {
        let spent = ResponseTemplate::new(200).set_body_json(json!({"code": 40100,
            "message": "The app reaches the daily limit (QPD) 1000 for current path",
            "request_id": "r", "data": {}}));
        let file = csv_file(lifetime_csv("2.50", str::to_string));
        mount_task(server, spent, json!({"status": "SUCCESS"}), file).await;
    })
    .await;
    let session = capture_advertiser_lifetime(&server).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let spends: Vec<String> = session
        .docs
        .iter()
        .map(|(_, d)| d["metrics"]["spend"].to_string())
        .collect();
    assert_eq!(spends, ["1.00"], "{stderr}");
    assert!(
        stderr.contains("daily quota of asynchronous reports is used up"),
        "{stderr}"
    );
    assert_eq!(task_bodies(&server).await.len(), 1, "{stderr}");
}

/// A Flow capture of `advertisers_reports_lifetime` for the three accounts of
/// [`three_accounts_over_the_cap`] against `server`, giving up after `give_up_secs` of failures;
/// the session and how long it took.
async fn lifetime_of_three_accounts(
    server: &MockServer,
    give_up_secs: u64,
) -> (crate::common::Session, std::time::Duration) {
    let cfg = sim_config(
        &server.uri(),
        "2024-01-01",
        json!({"advanced": {"advertiser_ids": ACCOUNTS}}),
    );
    let options = source_tiktok_marketing::client::ClientOptions {
        give_up_after: std::time::Duration::from_secs(give_up_secs),
        ..crate::common::quick_retries()
    };
    let started = std::time::Instant::now();
    let session = crate::common::flow_in_process(
        &cfg,
        &["advertisers_reports_lifetime"],
        &json!({}),
        options,
    )
    .await;
    (session, started.elapsed())
}

/// A server of the three [`ACCOUNTS`], whose every report answer is over the cap (the asked
/// account's one row, spend 1.00), so each reads its report through a task.
async fn three_accounts_over_the_cap() -> MockServer {
    let server = MockServer::start().await;
    no_topview(&server).await;
    let info: Vec<Value> = ACCOUNTS
        .iter()
        .map(|id| {
            json!({"advertiser_id": id, "name": "A", "timezone": "Etc/GMT",
            "create_time": 1_700_000_000})
        })
        .collect();
    Mock::given(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(json!({ "list": info })))
        .mount(&server)
        .await;
    for endpoint in ["ad/get/", "campaign/get/"] {
        Mock::given(path(format!("/open_api/v1.3/{endpoint}")))
            .respond_with(ok(json!({"list": [], "page_info": {"page": 1,
                "page_size": 1000, "total_number": 0, "total_page": 0}})))
            .mount(&server)
            .await;
    }
    // Every report answer is over the cap: the asked account's one row.
    Mock::given(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(|req: &wiremock::Request| {
            let asked = req
                .url
                .query_pairs()
                .find(|(k, _)| k == "advertiser_id")
                .map(|(_, v)| v.to_string());
            let list = match asked {
                Some(id) => json!([{"dimensions": {"advertiser_id": id},
                    "metrics": {"spend": "1.00"}}]),
                None => json!([]),
            };
            ok(
                json!({"list": list, "page_info": {"page": 1, "page_size": 1000,
                "total_number": 1, "total_page": 1}}),
            )
            .insert_header("X-Tt-Ads-Throttle", "1")
        })
        .mount(&server)
        .await;
    server
}

/// Three ad accounts.
const ACCOUNTS: [&str; 3] = [ADVERTISER, "7000000000000000002", "7000000000000000003"];

/// Three accounts over the cap whose task downloads all fail (HTTP 500): one failing download
/// used to hold the task turn for its whole retry budget, and the tasks already created went on
/// waiting and downloading though tasks had been found unavailable, one budget after another
/// (1,785 s for three accounts at the production budget). Now the turn passes on while a
/// request retries, and the waiting tasks notice that tasks are unavailable and fall back at
/// once: the run takes about one budget (here 15 s) and the task pacing (a request a second),
/// not three budgets, and every account gets its capped row.
#[tokio::test(flavor = "multi_thread")]
async fn failing_task_downloads_of_three_accounts_cost_one_budget_not_three() {
    let server = three_accounts_over_the_cap().await;
    mount_task(
        &server,
        ok(json!({"task_id": "t"})),
        json!({"status": "SUCCESS"}),
        ResponseTemplate::new(500).set_body_string("download broken"),
    )
    .await;
    let (session, elapsed) = lifetime_of_three_accounts(&server, 15).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let mut accounts: Vec<String> = session
        .docs
        .iter()
        .map(|(_, d)| d["advertiser_id"].to_string())
        .collect();
    accounts.sort();
    assert_eq!(accounts, ACCOUNTS, "{stderr}");
    assert!(
        elapsed < std::time::Duration::from_secs(40),
        "{elapsed:?}: {stderr}"
    );
}

/// Against the simulator, every documented metric group (`metric_groups: ["all"]`, about a
/// thousand metrics) on an advertiser-level daily report over the ads cap, with an allowlisted
/// app: each day's rows come whole from asynchronous tasks, hold every metric the stream asks,
/// and no warning says the capped answer was kept.
#[tokio::test(flavor = "multi_thread")]
async fn every_metric_group_over_the_cap_is_read_whole_through_tasks() {
    let sim = tiktok_sim::spawn(one_account_over_a_cap_of_5(true, false))
        .await
        .unwrap();
    let first = sim.model().first_day();
    let last = first.succ_opt().unwrap().succ_opt().unwrap();
    let uri = sim.base_url();
    let session = tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &uri,
            &first.to_string(),
            json!({"end_date": last.to_string(), "advanced": {"metric_groups": ["all"]}}),
        );
        flow_session(&cfg, &["advertisers_reports_daily"], &json!({}), &[])
    })
    .await
    .unwrap();
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    assert!(!stderr.contains("no asynchronous report task"), "{stderr}");
    let requests = sim.requests();
    let daily = |r: &&tiktok_sim::RecordedRequest| {
        r.params
            .get("dimensions")
            .is_some_and(|d| d.contains("stat_time_day"))
            && r.params
                .get("metrics")
                .is_some_and(|m| m.contains("video_views_p25"))
    };
    let creates: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "report/task/create/")
        .filter(daily)
        .collect();
    assert!(!creates.is_empty(), "no task asked: {stderr}");
    // Every metric the stream asks, as the discovered schema names them.
    let asked: std::collections::BTreeSet<String> = creates
        .iter()
        .flat_map(|r| serde_json::from_str::<Vec<String>>(&r.params["metrics"]).unwrap())
        .collect();
    assert!(asked.len() > 500, "{} metrics", asked.len());
    let days: std::collections::BTreeSet<&str> = session
        .docs
        .iter()
        .map(|(_, d)| d["stat_time_day"].as_str().unwrap())
        .collect();
    assert_eq!(days.len(), 3, "{:?}", session.docs.len());
    assert_eq!(session.docs.len(), 3, "one record a day");
    for (_, doc) in &session.docs {
        let metrics = doc["metrics"].as_object().unwrap();
        let missing: Vec<&String> = asked.iter().filter(|m| !metrics.contains_key(*m)).collect();
        assert!(missing.is_empty(), "{} missing: {missing:?}", missing.len());
        assert!(doc["metrics"]["spend"].is_number(), "{doc}");
    }
}

/// A `report/task/create/` that refuses (40067) a task of more than `max_metrics` metrics and
/// otherwise creates task `N` (the Nth it took); its download answers the task's columns, the
/// account's one lifetime row with each metric valued by its name's length.
struct WidthLimitedTasks {
    max_metrics: usize,
    created: std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>,
}

fn width_value(metric: &str) -> String {
    format!("{}.5", metric.len())
}

impl wiremock::Respond for WidthLimitedTasks {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let mut created = self.created.lock().unwrap();
        if request.url.path().ends_with("report/task/create/") {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            let metrics: Vec<String> = serde_json::from_value(body["metrics"].clone()).unwrap();
            if metrics.len() > self.max_metrics {
                return ResponseTemplate::new(200).set_body_raw(
                    r#"{"code": 40067, "message": "Your query is too large, please reduce the query size (e.g. fewer metrics or time range) and retry after a while.", "request_id": "r3", "data": {}}"#,
                    "application/json",
                );
            }
            created.push(metrics);
            return ok(json!({"task_id": (created.len() - 1).to_string()}));
        }
        let task: usize = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "task_id")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap();
        let metrics = &created[task];
        let mut header = vec!["advertiser_id".to_string()];
        header.extend(metrics.iter().cloned());
        let mut cells = vec![ADVERTISER.to_string()];
        cells.extend(metrics.iter().map(|m| width_value(m)));
        csv_file(format!("{}\n{}\n", header.join(","), cells.join(",")))
    }
}

/// A task TikTok refuses as too large (40067) is asked as several tasks of part of the metrics
/// each, halving a part still too large, and their rows are joined by the report's dimensions:
/// the record holds every metric from the tasks, not the capped synchronous answer, and no
/// warning says the capped answer was kept. The plan grows by the extra tasks' requests.
#[tokio::test(flavor = "multi_thread")]
async fn a_task_too_wide_is_asked_in_tasks_of_part_of_the_metrics_and_joined() {
    let created = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let max_metrics = 10;
    let server = advertiser_level_server(async |server| {
        for (verb, endpoint) in [
            ("POST", "report/task/create/"),
            ("GET", "report/task/download/"),
        ] {
            Mock::given(method(verb))
                .and(path(format!("/open_api/v1.3/{endpoint}")))
                .respond_with(WidthLimitedTasks {
                    max_metrics,
                    created: created.clone(),
                })
                .mount(server)
                .await;
        }
        Mock::given(method("GET"))
            .and(path("/open_api/v1.3/report/task/check/"))
            .respond_with(ok(json!({"status": "SUCCESS"})))
            .mount(server)
            .await;
    })
    .await;
    let session = capture_advertiser_lifetime(&server).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    assert!(!stderr.contains("no asynchronous report task"), "{stderr}");
    assert!(stderr.contains("tasks of part of them"), "{stderr}");
    assert_eq!(session.docs.len(), 1, "{:?}", session.docs);
    let doc = &session.docs[0].1;
    let tasks = created.lock().unwrap().clone();
    let asked: Vec<&String> = tasks.iter().flatten().collect();
    let bodies = task_bodies(&server).await;
    let whole: Vec<String> = serde_json::from_value(bodies[0]["metrics"].clone()).unwrap();
    assert!(whole.len() > 2 * max_metrics, "{}", whole.len());
    // Every metric asked once, in tasks of at most `max_metrics`, and the record holds each
    // with its task's value.
    assert_eq!(asked.len(), whole.len());
    assert!(tasks.iter().all(|t| t.len() <= max_metrics), "{tasks:?}");
    for metric in &whole {
        assert_eq!(
            doc["metrics"][metric].to_string(),
            width_value(metric),
            "{metric}: {doc}"
        );
    }
    // The plan grows by every request of the tasks beyond one task's three.
    let logs: Vec<Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let grown = logs
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("the plan grows"))
        })
        .unwrap_or_else(|| panic!("the plan did not grow: {stderr}"));
    // Creates (refused or not), and a check and a download per task made.
    let requests = bodies.len() + 2 * tasks.len();
    assert_eq!(grown["extra_requests"], requests as u64 - 3, "{grown}");
}

/// One account whose task download keeps failing (HTTP 500), among three whose files are
/// fine. A task request takes the turn for each attempt and gives it back before its retry
/// pause, so the other accounts' task requests go between its attempts instead of after its
/// retries: the server receives both good downloads before the failing account's third
/// attempt (it used to receive dozens of quick retries first, the turn held for 5 s), the good
/// accounts' rows come from their files (spend 2.50), and the failing one falls back to its
/// capped row (1.00) once its budget is spent. The run ends well within 60 s.
#[tokio::test(flavor = "multi_thread")]
async fn a_failing_task_download_lets_the_other_accounts_tasks_through_between_its_retries() {
    let server = three_accounts_over_the_cap().await;
    let failing = ACCOUNTS[0];
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/task/download/"))
        .and(wiremock::matchers::query_param("advertiser_id", failing))
        .respond_with(ResponseTemplate::new(500).set_body_string("download broken"))
        .with_priority(1)
        .mount(&server)
        .await;
    let file = |req: &wiremock::Request| {
        let asked = req
            .url
            .query_pairs()
            .find(|(k, _)| k == "advertiser_id")
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        csv_file(lifetime_csv("2.50", str::to_string).replace(ADVERTISER, &asked))
    };
    Mock::given(method("POST"))
        .and(path("/open_api/v1.3/report/task/create/"))
        .respond_with(ok(json!({"task_id": "t"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/task/check/"))
        .respond_with(ok(json!({"status": "SUCCESS"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/task/download/"))
        .respond_with(file)
        .mount(&server)
        .await;
    let (session, elapsed) = lifetime_of_three_accounts(&server, 10).await;
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    // The download requests, in the order the server received them: whose, and answered how.
    let downloads: Vec<String> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with("report/task/download/"))
        .filter_map(|r| {
            r.url
                .query_pairs()
                .find(|(k, _)| k == "advertiser_id")
                .map(|(_, v)| v.to_string())
        })
        .collect();
    let third_failure = downloads
        .iter()
        .enumerate()
        .filter(|(_, id)| *id == failing)
        .map(|(i, _)| i)
        .nth(2)
        .unwrap_or(usize::MAX);
    for good in &ACCOUNTS[1..] {
        let at = downloads.iter().position(|id| id == good);
        assert!(
            at.is_some_and(|at| at < third_failure),
            "{good}'s download waited for the failing account's retries: {downloads:?}"
        );
    }
    let mut spends: Vec<(String, String)> = session
        .docs
        .iter()
        .map(|(_, d)| {
            (
                d["advertiser_id"].to_string().trim_matches('"').to_string(),
                d["metrics"]["spend"].to_string(),
            )
        })
        .collect();
    spends.sort();
    let expected: Vec<(String, String)> = ACCOUNTS
        .iter()
        .map(|id| {
            let spend = if *id == failing { "1.00" } else { "2.50" };
            (id.to_string(), spend.to_string())
        })
        .collect();
    assert_eq!(spends, expected, "{stderr}");
    assert!(
        elapsed < std::time::Duration::from_secs(60),
        "{elapsed:?}: {stderr}"
    );
}

/// A proxy in front of `server` whose task downloads never end: every other request is passed
/// on to `server` (one request per connection), and a `report/task/download/` is answered with
/// a CSV streamed without end, each row carrying `marker`.
async fn endless_download_proxy(server: &MockServer, marker: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = *server.address();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request: its head, and its body by Content-Length.
                let mut request = Vec::new();
                let mut buf = [0u8; 8192];
                let head_end = loop {
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break at + 4;
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&request[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while request.len() < head_end + length {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                if head.starts_with("GET /open_api/v1.3/report/task/download/") {
                    let start = "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\n\
                                 Transfer-Encoding: chunked\r\n\r\n";
                    let header = "advertiser_id,spend,note\n";
                    let row = format!("{ADVERTISER},2.50,{marker}\n");
                    let payload = row.repeat(64 * 1024 / row.len());
                    let first = format!("{:x}\r\n{header}\r\n", header.len());
                    let chunk = format!("{:x}\r\n{payload}\r\n", payload.len());
                    if socket.write_all(start.as_bytes()).await.is_err()
                        || socket.write_all(first.as_bytes()).await.is_err()
                    {
                        return;
                    }
                    while socket.write_all(chunk.as_bytes()).await.is_ok() {}
                    return;
                }
                // Passed on, asking the server to close after its answer, which is sent back
                // whole (the server says `connection: close`, so the client does not reuse it).
                let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let first_line_end = head.find("\r\n").unwrap_or(0) + 2;
                let mut forwarded = request[..first_line_end].to_vec();
                forwarded.extend_from_slice(b"Connection: close\r\n");
                forwarded.extend_from_slice(&request[first_line_end..]);
                let mut answer = Vec::new();
                if server.write_all(&forwarded).await.is_err()
                    || server.read_to_end(&mut answer).await.is_err()
                {
                    return;
                }
                let _ = socket.write_all(&answer).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

/// A task CSV that never ends (a server streaming forever) used to take the ten-minute retry
/// budget before the fallback. It is cut off at 16 MiB like any answer, asked for a few times,
/// and refused: the report falls back to the synchronous answer with that reason within a
/// minute, and nothing of the file's rows is echoed (a warning quotes at most a few hundred
/// characters of anything a server sent).
#[tokio::test(flavor = "multi_thread")]
async fn an_endless_task_file_falls_back_within_a_minute_echoing_nothing_of_it() {
    const MARKER: &str = "endless-row-marker-Z7";
    let server = advertiser_level_server(async |server| {
        let never_asked = ResponseTemplate::new(404);
        mount_task(
            server,
            ok(json!({"task_id": "t"})),
            json!({"status": "SUCCESS"}),
            never_asked,
        )
        .await;
    })
    .await;
    let proxy = endless_download_proxy(&server, MARKER).await;
    let started = std::time::Instant::now();
    let session = tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &proxy,
            "2024-01-01",
            json!({"advanced": {"advertiser_ids": [ADVERTISER]}}),
        );
        flow_session(&cfg, &["advertisers_reports_lifetime"], &json!({}), &[])
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    let stderr = &session.output.stderr;
    assert!(
        elapsed < std::time::Duration::from_secs(60),
        "{elapsed:?}: {stderr}"
    );
    assert_eq!(session.output.code, 0, "{stderr}");
    assert_eq!(session.docs.len(), 1, "{stderr}");
    assert_eq!(session.docs[0].1["metrics"]["spend"].to_string(), "1.00");
    assert!(stderr.contains("no asynchronous report task"), "{stderr}");
    assert!(stderr.contains("longer than 16 MiB"), "{stderr}");
    let all = format!("{}{stderr}", session.output.stdout_text);
    assert!(
        !all.contains(MARKER),
        "a row of the file was echoed: {stderr}"
    );
    assert!(all.len() < 256 * 1024, "{} bytes of output", all.len());
}
