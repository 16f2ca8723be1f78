//! The fault matrix: each case runs a capture against the simulated TikTok API with
//! one kind of fault injected and must end with exactly the records of a fault-free run, or
//! with a clear error and a state from which the next run completes them. Every case runs with
//! canary credentials that must never appear in stdout or stderr.

use std::time::Duration;

use crate::common::{logs, quick_retries, read_in_process, Output};
use serde_json::{json, Value};
use source_tiktok_marketing::client::ClientOptions;
use tiktok_sim::{self as simulator, Credentials, DataShape, Fault, FaultRule, Faults, SimConfig};

const TOKEN: &str = "canary-token-Q7x";
const APP: &str = "canary-app-Z3y";
const SECRET: &str = "canary-secret-W9z";
const STREAMS: &[&str] = &[
    "advertisers",
    "campaigns",
    "ads",
    "ads_reports_daily",
    "campaigns_reports_hourly",
    "ad_groups_reports_lifetime",
    "ads_audience_reports_daily",
];

fn sim_config(faults: Vec<FaultRule>) -> SimConfig {
    SimConfig {
        data: DataShape {
            advertisers: 3,
            campaigns_per_advertiser: 2,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 3,
            days: 40,
            ..Default::default()
        },
        credentials: Credentials {
            access_token: TOKEN.into(),
            app_id: APP.into(),
            secret: SECRET.into(),
        },
        faults: Faults {
            rules: faults,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

fn catalog() -> Value {
    json!({"streams": STREAMS.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()})
}

/// One Airbyte read (in-process, with quick retries and `adjust` applied to the client knobs)
/// against a fresh simulator; returns the sorted records, the output and the states to resume
/// from.
async fn read(
    faults: Vec<FaultRule>,
    state: Option<Value>,
    adjust: fn(&mut ClientOptions),
) -> (Vec<String>, Output, Value) {
    let sim = simulator::spawn(sim_config(faults)).await.unwrap();
    // Hourly reports over the last two days only, to keep the matrix quick.
    let start = sim.model().first_day().to_string();
    let config = json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": APP, "client_secret": SECRET, "access_token": TOKEN},
        "start_date": start,
        "advanced": {"base_url": sim.base_url(), "requests_per_second": 100},
    });
    let mut options = quick_retries();
    adjust(&mut options);
    let out = read_in_process(&config, &catalog(), state.as_ref(), options).await;
    let logs = logs();
    for canary in [TOKEN, APP, SECRET] {
        assert!(
            !out.stdout_text.contains(canary),
            "{canary} leaked to stdout"
        );
        assert!(!out.stderr.contains(canary), "{canary} leaked to the error");
        assert!(!logs.contains(canary), "{canary} leaked to the logs");
    }
    let mut records: Vec<String> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| format!("{}:{}", m["record"]["stream"], m["record"]["data"]))
        .collect();
    records.sort();
    let states: Vec<Value> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "STATE")
        .map(|m| m["state"].clone())
        .collect();
    // The last state per stream is what a platform keeps.
    let mut last: std::collections::BTreeMap<String, Value> = Default::default();
    for s in states {
        last.insert(
            s["stream"]["stream_descriptor"]["name"]
                .as_str()
                .unwrap()
                .to_string(),
            s,
        );
    }
    (records, out, json!(last.into_values().collect::<Vec<_>>()))
}

async fn baseline() -> Vec<String> {
    let (records, out, _) = read(vec![], None, |_| {}).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(records.len() > 1000, "{}", records.len());
    records
}

fn every(fault: Fault, every: u32) -> FaultRule {
    FaultRule {
        fault,
        every,
        paths: None,
    }
}

async fn same_as_baseline(faults: Vec<FaultRule>, adjust: fn(&mut ClientOptions)) {
    let expected = baseline().await;
    let (records, out, _) = read(faults, None, adjust).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(records.len(), expected.len(), "record counts differ");
    assert!(
        records == expected,
        "records differ from the fault-free run"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_storm_longer_than_a_minute() {
    same_as_baseline(
        vec![every(Fault::RateLimitStorm(Duration::from_secs(65)), 1)],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn advertiser_qps_limit_40133() {
    same_as_baseline(vec![every(Fault::Code(40133), 3)], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn server_errors_50000_51002_and_maintenance_60001() {
    same_as_baseline(
        vec![
            every(Fault::Code(50000), 4),
            every(Fault::Code(51002), 5),
            every(Fault::Code(60001), 7),
        ],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_500_and_504_with_html_bodies() {
    same_as_baseline(
        vec![every(Fault::Http(500), 3), every(Fault::Http(504), 4)],
        |_| {},
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_dropped_mid_body() {
    same_as_baseline(vec![every(Fault::DropConnection, 4)], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_json() {
    same_as_baseline(vec![every(Fault::TruncatedJson, 4)], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_slower_than_the_client_timeout() {
    same_as_baseline(
        vec![every(Fault::Slow(Duration::from_secs(3)), 6)],
        |options| options.timeout = Duration::from_secs(1),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn query_too_large_on_long_windows_halves_them() {
    same_as_baseline(vec![every(Fault::QueryTooLarge { max_days: 7 }, 1)], |_| {}).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_advertiser_without_permission_is_skipped_and_the_others_complete() {
    let expected = baseline().await;
    let denied = simulator::Model::new(&sim_config(vec![])).advertiser_ids()[1];
    let (records, out, _) = read(
        vec![every(
            Fault::NoPermission {
                advertiser_id: denied,
            },
            1,
        )],
        None,
        |_| {},
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(logs().contains("Skipping an advertiser"), "{}", logs());
    let denied_text = denied.to_string();
    let others: Vec<&String> = expected
        .iter()
        .filter(|r| !r.contains(&format!("\"advertiser_id\":{denied_text}")))
        .collect();
    let records_ref: Vec<&String> = records.iter().collect();
    // Every record of the other advertisers is there, none of the denied one's entities.
    assert!(others.len() < expected.len());
    for r in &others {
        assert!(records_ref.contains(r), "missing {r}");
    }
    let leaked = records
        .iter()
        .filter(|r| r.contains(&format!("\"advertiser_id\":{denied_text}")))
        .count();
    assert_eq!(leaked, 0, "records of the denied advertiser were emitted");
    assert_eq!(records.len(), others.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn endless_server_errors_fail_clearly_and_the_next_run_completes() {
    let expected = baseline().await;
    let broken = vec![FaultRule {
        fault: Fault::Code(50000),
        every: 1,
        paths: Some(vec!["report/integrated/get/".into()]),
    }];
    let (first, out, state) = read(broken, None, |options| {
        options.give_up_after = Duration::from_secs(2)
    })
    .await;
    assert_ne!(out.code, 0, "a run that cannot progress must fail");
    let message = out.last_log_message();
    assert!(
        message.contains("would pass the 2-second limit without progress")
            && message.contains("report/integrated/get/"),
        "{message}"
    );
    assert!(out
        .stdout
        .iter()
        .any(|m| m["trace"]["stream_status"]["status"] == "INCOMPLETE"));
    // The next run, from the state the failed one left, completes everything.
    let (second, out, _) = read(vec![], Some(state), |_| {}).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut union: Vec<String> = first.into_iter().chain(second).collect();
    union.sort();
    union.dedup();
    let mut expected = expected;
    expected.dedup();
    for r in &expected {
        assert!(union.binary_search(r).is_ok(), "lost {r}");
    }
}
