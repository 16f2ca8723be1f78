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
    let server = MockServer::start().await;
    no_topview(&server).await;
    let info = json!({"list": [{"advertiser_id": ADVERTISER, "name": "A", "timezone": "Etc/GMT",
        "create_time": 1_700_000_000}]});
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(info))
        .mount(&server)
        .await;
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

/// A Flow capture of `ads_reports_lifetime` against the server (blocking: run it off the
/// runtime that serves the mocks).
async fn capture(server: &MockServer) -> crate::common::Session {
    let uri = server.uri();
    tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &uri,
            "2024-01-01",
            json!({"advanced": {"advertiser_ids": [ADVERTISER]}}),
        );
        flow_session(&cfg, &["ads_reports_lifetime"], &json!({}), &[])
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
    let server = MockServer::start().await;
    no_topview(&server).await;
    let info = json!({"list": [{"advertiser_id": ADVERTISER, "name": "A",
        "create_time": 1_700_000_000}]});
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(info))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/ad/get/"))
        .respond_with(ok(json!({"list": [{"ad_id": "11", "adgroup_id": "21",
            "campaign_id": "31"}], "page_info": {"page": 1, "page_size": 1000,
            "total_number": 1, "total_page": 1}})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/campaign/get/"))
        .respond_with(ok(
            json!({"list": [{"campaign_id": "31"}], "page_info": {"page": 1,
            "page_size": 1000, "total_number": 1, "total_page": 1}}),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(
            ok(
                json!({"list": [{"dimensions": {"ad_id": "11"}, "metrics": {"spend": "1.00"}}],
                "page_info": {"page": 1, "page_size": 1000, "total_number": 1,
                "total_page": 1}}),
            )
            .insert_header("X-Tt-Ads-Throttle", "1"),
        )
        .mount(&server)
        .await;
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
    use tiktok_sim::{catalog, Fault, FaultRule, ReportQuery, SimConfig};

    let probe = SimConfig {
        advertisers: 2,
        campaigns_per_advertiser: 6,
        ..SimConfig::default()
    };
    let denied = tiktok_sim::Model::new(&probe).advertiser_ids()[1];
    let sim = tiktok_sim::spawn(SimConfig {
        faults: vec![FaultRule {
            fault: Fault::NoPermission {
                advertiser_id: denied,
            },
            every: 1,
            paths: Some(vec!["ad/get/".into()]),
        }],
        record_requests: true,
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
