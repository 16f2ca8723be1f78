//! Ad accounts in IANA time zones, as real TikTok accounts are (`Europe/Moscow`,
//! `Europe/Istanbul` in a public recording of TikTok answers): the report cursor reaches the
//! last day that is over where the account lives, and an unknown zone falls back to the
//! westernmost offset with one warning naming the account and the zone. Daylight saving
//! transitions are covered by the unit tests of `src/clock.rs`.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{at, flow_in_process, sim_config};

const MOSCOW: &str = "7001035076276387841";
const ISTANBUL: &str = "7001040009704833026";
const NOWHERE: &str = "7002238017842757633";

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "OK",
        "request_id": "test", "data": data}))
}

fn empty_list() -> ResponseTemplate {
    ok(
        json!({"list": [], "page_info": {"page": 1, "page_size": 1000, "total_number": 0,
        "total_page": 0}}),
    )
}

/// Three accounts (Moscow, Istanbul and a zone no tz database knows), no entities, and one
/// report row for every query.
async fn server() -> MockServer {
    let server = MockServer::start().await;
    let account = |id: &str, zone: &str| {
        json!({"advertiser_id": id, "name": zone, "timezone": zone, "display_timezone": zone,
            "create_time": 1_630_055_520})
    };
    let info = json!({"list": [account(MOSCOW, "Europe/Moscow"),
        account(ISTANBUL, "Europe/Istanbul"), account(NOWHERE, "Mars/Olympus_Mons")]});
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(info))
        .mount(&server)
        .await;
    for endpoint in ["campaign/get/", "adgroup/get/", "ad/get/"] {
        Mock::given(method("GET"))
            .and(path(format!("/open_api/v1.3/{endpoint}")))
            .respond_with(empty_list())
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(ok(json!({"list": [{"dimensions": {"advertiser_id": MOSCOW,
            "stat_time_day": "2024-03-30 00:00:00"}, "metrics": {"spend": "1.00"}}],
            "page_info": {"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1}})))
        .mount(&server)
        .await;
    server
}

fn cursor(state: &Value, stream: &str, advertiser: &str) -> Option<String> {
    state["bindingStateV1"][stream]["advertisers"][advertiser]["cursor"]
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moscow_accounts_cursor_reaches_its_last_complete_day() {
    let server = server().await;
    let cfg = sim_config(
        &server.uri(),
        "2024-03-25",
        json!({"advanced": {"advertiser_ids": [MOSCOW, ISTANBUL, NOWHERE], "lookback_days": 0}}),
    );
    let stream = "advertisers_reports_daily";
    // 21:30 UTC on March 31: 00:30 on April 1 in Moscow and Istanbul (UTC+3 all year), so March
    // 31 is over there. Taken as UTC-12 (what every IANA zone used to be), it would be 09:30 on
    // March 31, and the cursor would trail a day.
    let session = flow_in_process(&cfg, &[stream], &json!({}), at("2024-03-31T21:30:00Z")).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert_eq!(
        cursor(&session.state, stream, MOSCOW).as_deref(),
        Some("2024-03-31")
    );
    assert_eq!(
        cursor(&session.state, stream, ISTANBUL).as_deref(),
        Some("2024-03-31")
    );
    // The unknown zone: as far west as zones go, where March 31 is still in progress.
    assert_eq!(
        cursor(&session.state, stream, NOWHERE).as_deref(),
        Some("2024-03-30")
    );
    let warnings: Vec<&str> = session
        .output
        .stderr
        .lines()
        .filter(|l| l.contains("not one the tz database knows"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains(NOWHERE) && warnings[0].contains("Mars/Olympus_Mons"));
    // An hour earlier (23:30 in Moscow), March 31 is in progress everywhere.
    let early = flow_in_process(&cfg, &[stream], &json!({}), at("2024-03-31T20:30:00Z")).await;
    assert_eq!(early.output.code, 0, "{}", early.output.stderr);
    for id in [MOSCOW, ISTANBUL, NOWHERE] {
        assert_eq!(
            cursor(&early.state, stream, id).as_deref(),
            Some("2024-03-30"),
            "{id}"
        );
    }
}
