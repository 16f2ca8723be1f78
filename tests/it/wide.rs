//! Wide queries across runs, against the simulator (which refuses a synchronous report query of
//! more than 200 metrics with 40067, its own documented choice): what a run learns of the
//! metrics TikTok answers in one query is kept in each binding's state, in both protocols, so
//! the next run asks its queries in parts at once and meets no refusal; a hint that makes no
//! sense is ignored, and one TikTok no longer bears out is corrected, never a failure.

use std::collections::BTreeMap;

use crate::common::{flow_session, run, sim_config, temp_json, Session};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, RecordedRequest, SimConfig, SimHandle};

/// A daily, an hourly and a lifetime report: the three ways a report is queried.
const STREAMS: [&str; 3] = [
    "ads_reports_daily",
    "campaigns_reports_hourly",
    "ads_reports_lifetime",
];

async fn small_sim() -> SimHandle {
    simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 2,
            campaigns_per_advertiser: 1,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 3,
            days: 6,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Every metric group, from the simulator's first day.
fn all_metrics(sim: &SimHandle) -> Value {
    sim_config(
        &sim.base_url(),
        &sim.model().first_day().to_string(),
        json!({"advanced": {"metric_groups": ["all"]}}),
    )
}

/// The report requests of the streams the simulator logged since `from` (its log's length
/// before a run). The ledger's queries (advertiser level, which none of these streams reads)
/// are not the streams' and are left out: the ledger asks every additive metric at once and
/// is refused as too large with every metric group, then reads every day.
fn report_requests(sim: &SimHandle, from: usize) -> Vec<RecordedRequest> {
    sim.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.path == "report/integrated/get/")
        .filter(|r| r.params.get("data_level").map(String::as_str) != Some("AUCTION_ADVERTISER"))
        .collect()
}

/// The days a report request asks.
fn span(request: &RecordedRequest) -> i64 {
    let day = |key: &str| chrono::NaiveDate::parse_from_str(&request.params[key], "%Y-%m-%d");
    (day("end_date").unwrap() - day("start_date").unwrap()).num_days() + 1
}

fn refused(requests: &[RecordedRequest]) -> usize {
    requests.iter().filter(|r| r.code == 40067).count()
}

async fn flow(config: &Value, state: &Value) -> Session {
    let (config, state) = (config.clone(), state.clone());
    let session = tokio::task::spawn_blocking(move || flow_session(&config, &STREAMS, &state, &[]))
        .await
        .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    session
}

/// Each binding's documents, sorted, as text.
fn documents(session: &Session) -> BTreeMap<usize, Vec<String>> {
    let mut docs: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for (binding, doc) in &session.docs {
        docs.entry(*binding).or_default().push(doc.to_string());
    }
    docs.values_mut().for_each(|d| d.sort());
    docs
}

/// The state with every binding's cursors taken out: what is left is what the bindings
/// learned of TikTok's width, and a run from it reads the same days as the first.
fn widths_only(state: &Value) -> Value {
    let mut state = state.clone();
    for binding in state["bindingStateV1"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        binding.as_object_mut().unwrap().remove("advertisers");
    }
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_from_the_last_runs_state_asks_in_parts_at_once_and_meets_no_refusal() {
    let sim = small_sim().await;
    let config = all_metrics(&sim);
    let first = flow(&config, &json!({})).await;
    let asked_first = report_requests(&sim, 0);
    // Meaningful only if the first run met TikTok's width.
    assert!(refused(&asked_first) > 0, "no 40067 in the first run");
    // Refused whole, a daily window has its first day asked alone (refused too: the metrics
    // are too many), and the rest in parts: no window is halved on the way to one day.
    let daily_spans: Vec<(i64, i64)> = asked_first
        .iter()
        .filter(|r| r.params["dimensions"].contains("stat_time_day"))
        .map(|r| (span(r), r.code))
        .collect();
    let longest = daily_spans.iter().map(|(days, _)| *days).max().unwrap();
    assert!(longest > 2, "{daily_spans:?}");
    assert!(
        daily_spans
            .iter()
            .all(|(days, code)| *code == 0 || *days == 1 || *days == longest),
        "{daily_spans:?}"
    );
    for stream in STREAMS {
        let width = &first.state["bindingStateV1"][stream]["query_width"];
        assert!(
            width["answered"].as_u64().is_some_and(|a| a <= 200)
                && width["refused"].as_u64().is_some_and(|r| r > 200),
            "{stream}: {}",
            first.state
        );
    }
    // The same days again, knowing only the widths: the same documents, no refusal, fewer
    // requests.
    let log = sim.requests().len();
    let again = flow(&config, &widths_only(&first.state)).await;
    let asked_again = report_requests(&sim, log);
    assert_eq!(refused(&asked_again), 0, "{}", again.output.stderr);
    assert!(
        asked_again.len() < asked_first.len(),
        "{} requests after {}",
        asked_again.len(),
        asked_first.len()
    );
    assert_eq!(documents(&again), documents(&first));
    // Every query asked was answered, none wider than TikTok allows.
    assert!(asked_again.iter().all(|r| r.code == 0));
    // The next run, from the whole state: no refusal either.
    let log = sim.requests().len();
    let next = flow(&config, &first.state).await;
    assert_eq!(
        refused(&report_requests(&sim, log)),
        0,
        "{}",
        next.output.stderr
    );
    assert!(!next.docs.is_empty());
}

/// A width that makes no sense is ignored (the run learns it anew, as a first run does), and
/// one TikTok no longer bears out (it refuses parts that wide) is corrected by halving as a
/// first run does: the same documents either way, and the state ends with what TikTok answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_bad_or_stale_width_in_the_state_is_a_hint_not_a_failure() {
    let sim = small_sim().await;
    let config = all_metrics(&sim);
    let baseline = flow(&config, &json!({})).await;
    for hint in [
        json!("lots"),
        json!({"answered": 500, "refused": 3}),
        json!({"answered": -1}),
        // Stale: TikTok refuses parts of 514.
        json!({"answered": 1000}),
    ] {
        let state = json!({"bindingStateV1": STREAMS.iter()
            .map(|s| (s.to_string(), json!({"query_width": hint})))
            .collect::<serde_json::Map<String, Value>>()});
        let log = sim.requests().len();
        let session = flow(&config, &state).await;
        assert_eq!(documents(&session), documents(&baseline), "{hint}");
        assert!(refused(&report_requests(&sim, log)) > 0, "{hint}");
        for stream in STREAMS {
            let width = &session.state["bindingStateV1"][stream]["query_width"];
            assert!(
                width["answered"].as_u64().is_some_and(|a| a <= 200)
                    && width["refused"].as_u64().is_some_and(|r| r > 200),
                "{hint}: {stream}: {width}"
            );
        }
    }
}

/// Airbyte keeps the width in the stream state it prints, and a read from that state meets no
/// refusal.
#[tokio::test(flavor = "multi_thread")]
async fn airbyte_keeps_the_width_across_reads() {
    let sim = small_sim().await;
    let config = all_metrics(&sim);
    let catalog = json!({"streams": [{"stream": {"name": "ads_reports_daily"},
        "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}]});
    let dir = tempfile::tempdir().unwrap();
    let c = temp_json(&dir, "config.json", &config);
    let k = temp_json(&dir, "catalog.json", &catalog);
    let first = tokio::task::spawn_blocking({
        let (c, k) = (c.clone(), k.clone());
        move || run(&["read", "--config", &c, "--catalog", &k], "", &[])
    })
    .await
    .unwrap();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(refused(&report_requests(&sim, 0)) > 0);
    let last_state = first
        .stdout
        .iter()
        .rev()
        .find(|m| m["type"] == "STATE")
        .map(|m| m["state"].clone())
        .unwrap();
    let width = &last_state["stream"]["stream_state"]["query_width"];
    assert!(width["answered"].as_u64().is_some(), "{last_state}");
    let s = temp_json(&dir, "state.json", &json!([last_state]));
    let log = sim.requests().len();
    let next = tokio::task::spawn_blocking(move || {
        run(
            &["read", "--config", &c, "--catalog", &k, "--state", &s],
            "",
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(next.code, 0, "{}", next.stderr);
    let asked = report_requests(&sim, log);
    assert!(!asked.is_empty());
    assert_eq!(refused(&asked), 0, "{}", next.stderr);
}
