//! End-to-end captures of the entity streams against the simulated TikTok API, through the real
//! binary in both protocols: exactly the model's entities (deleted ones included unless asked
//! otherwise), incremental second runs, and faults (40100 on one request in five, HTTP 500 on one
//! in ten) that change nothing in what is captured.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{flow_session, run, sim_config, temp_json};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, EntityKind, Fault, FaultRule, Faults, SimConfig};

const ENTITIES: [&str; 4] = ["advertisers", "campaigns", "ad_groups", "ads"];

fn small() -> SimConfig {
    SimConfig {
        data: DataShape {
            advertisers: 3,
            campaigns_per_advertiser: 4,
            adgroups_per_campaign: 3,
            ads_per_adgroup: 5,
            days: 10,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// The ids the model holds for a stream, over every advertiser.
fn model_ids(model: &simulator::Model, stream: &str, include_deleted: bool) -> BTreeSet<u64> {
    let (kind, field) = match stream {
        "campaigns" => (EntityKind::Campaign, "campaign_id"),
        "ad_groups" => (EntityKind::AdGroup, "adgroup_id"),
        "ads" => (EntityKind::Ad, "ad_id"),
        _ => return model.advertiser_ids().into_iter().collect(),
    };
    model
        .advertiser_ids()
        .into_iter()
        .flat_map(|a| model.entities(kind, a, include_deleted))
        .map(|e| match &e[field] {
            Value::String(s) => s.parse().unwrap(),
            other => other.as_u64().unwrap(),
        })
        .collect()
}

fn captured_ids(docs: &[(usize, Value)], binding: usize, field: &str) -> BTreeSet<u64> {
    docs.iter()
        .filter(|(b, _)| *b == binding)
        .map(|(_, d)| {
            d[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} is not an integer: {d}"))
        })
        .collect()
}

const FIELDS: [&str; 4] = ["advertiser_id", "campaign_id", "adgroup_id", "ad_id"];

#[tokio::test(flavor = "multi_thread")]
async fn flow_captures_exactly_the_models_entities_then_only_changes() {
    // Two months of history: the last day, which a second run emits again (the cursor stays a
    // day before the listing began), is a small part of it.
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            days: 60,
            ..small().data
        },
        ..small()
    })
    .await
    .unwrap();
    let start = sim.model().first_day().to_string();
    let config = sim_config(&sim.base_url(), &start, json!({}));
    let first = tokio::task::spawn_blocking({
        let config = config.clone();
        move || flow_session(&config, &ENTITIES, &json!({}), &[])
    })
    .await
    .unwrap();
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    for (binding, stream) in ENTITIES.iter().enumerate() {
        let expected = model_ids(sim.model(), stream, true);
        assert!(!expected.is_empty());
        assert_eq!(
            captured_ids(&first.docs, binding, FIELDS[binding]),
            expected,
            "{stream}"
        );
    }
    // Deleted entities are among them.
    assert!(first.docs.iter().any(|(_, d)| d["secondary_status"]
        .as_str()
        .is_some_and(|s| s.ends_with("_DELETE"))));
    // Every advertiser has a cursor per entity stream.
    for stream in &ENTITIES[1..] {
        let cursors = first.state["bindingStateV1"][stream]["advertisers"]
            .as_object()
            .unwrap();
        assert_eq!(cursors.len(), 3, "{stream}: {cursors:?}");
    }
    // A second run emits only rows modified at or after the cursor: far fewer, and every one
    // of them changed within a day of the first run's start (the cursor's ceiling).
    let first_state = first.state.clone();
    let second =
        tokio::task::spawn_blocking(move || flow_session(&config, &ENTITIES, &first.state, &[]))
            .await
            .unwrap();
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    let ads_again = captured_ids(&second.docs, 3, "ad_id");
    let all_ads = model_ids(sim.model(), "ads", true);
    assert!(
        ads_again.len() < all_ads.len() / 4,
        "{} of {} ads re-emitted",
        ads_again.len(),
        all_ads.len()
    );
    let a_day_ago = (chrono::Utc::now() - chrono::Duration::hours(24))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    for (binding, doc) in second.docs.iter().filter(|(b, _)| *b > 0) {
        let modified = doc["modify_time"].as_str().unwrap_or_default();
        let advertiser = doc["advertiser_id"].to_string();
        let cursor = first_state["bindingStateV1"][ENTITIES[*binding]]["advertisers"][&advertiser]
            ["cursor"]
            .as_str()
            .unwrap();
        assert!(cursor <= a_day_ago.as_str(), "{cursor} is not a day back");
        assert!(modified >= cursor, "{doc}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn include_deleted_false_hides_deleted_entities() {
    let sim = simulator::spawn(small()).await.unwrap();
    let config = sim_config(
        &sim.base_url(),
        "2024-01-01",
        json!({"advanced": {"include_deleted": false}}),
    );
    let session =
        tokio::task::spawn_blocking(move || flow_session(&config, &["ads"], &json!({}), &[]))
            .await
            .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let expected = model_ids(sim.model(), "ads", false);
    assert!(expected.len() < model_ids(sim.model(), "ads", true).len());
    assert_eq!(captured_ids(&session.docs, 0, "ad_id"), expected);
}

fn airbyte_records(out: &crate::common::Output) -> Vec<(String, String)> {
    let mut records: Vec<(String, String)> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .map(|m| {
            (
                m["record"]["stream"].as_str().unwrap().to_string(),
                m["record"]["data"].to_string(),
            )
        })
        .collect();
    records.sort();
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_change_nothing_in_what_is_captured() {
    let streams = [
        "advertisers",
        "campaigns",
        "ad_groups",
        "ads",
        "ads_reports_daily",
        "campaigns_audience_reports_by_country_daily",
    ];
    let catalog = json!({"streams": streams.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()});
    let mut outputs = Vec::new();
    for faults in [
        vec![],
        vec![
            FaultRule {
                fault: Fault::Code(40100),
                every: 5,
                paths: None,
            },
            FaultRule {
                fault: Fault::Http(500),
                every: 10,
                paths: None,
            },
        ],
    ] {
        let sim = simulator::spawn(SimConfig {
            faults: Faults {
                rules: faults,
                ..small().faults
            },
            ..small()
        })
        .await
        .unwrap();
        let start = sim.model().first_day().to_string();
        let config = sim_config(&sim.base_url(), &start, json!({}));
        // In-process: quick retries are a library setting the binary does not expose.
        let out =
            crate::common::read_in_process(&config, &catalog, None, crate::common::quick_retries())
                .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        outputs.push((out, sim.request_count()));
    }
    let clean = airbyte_records(&outputs[0].0);
    let faulty = airbyte_records(&outputs[1].0);
    assert!(clean.len() > 500, "{}", clean.len());
    assert_eq!(clean.len(), faulty.len());
    assert!(clean == faulty, "the faulty run captured different records");
    // The faults really happened: the faulty run needed more requests.
    assert!(
        outputs[1].1 > outputs[0].1 + outputs[0].1 / 5,
        "{} vs {}",
        outputs[1].1,
        outputs[0].1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn states_of_earlier_versions_are_migrated_not_thrown_away() {
    let sim = simulator::spawn(small()).await.unwrap();
    let config = sim_config(&sim.base_url(), "2024-01-01", json!({}));
    // The newest modify_time of all ads: a cursor there re-emits (almost) nothing.
    let newest = sim
        .model()
        .advertiser_ids()
        .into_iter()
        .flat_map(|a| sim.model().entities(EntityKind::Ad, a, true))
        .filter_map(|e| e["modify_time"].as_str().map(str::to_string))
        .max()
        .unwrap();
    // The v2 image (Airbyte 3.x behind airbyte-to-flow) kept `{stream: {cursor field: value}}`.
    let legacy = json!({"ads": {"modify_time": newest.replace(' ', "T") + "Z"}});
    let session = tokio::task::spawn_blocking({
        let config = config.clone();
        move || flow_session(&config, &["ads"], &legacy, &[])
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let emitted = session.docs.len();
    assert!(
        (1..5).contains(&emitted),
        "{emitted} ads re-emitted after a migrated cursor"
    );
    // Airbyte 4.x per-partition state in --state.
    let states = json!([{"type": "STREAM", "stream": {"stream_descriptor": {"name": "ads"},
        "stream_state": {"states": sim.model().advertiser_ids().iter().map(|a| json!({
            "partition": {"advertiser_id": a.to_string(), "parent_slice": {}},
            "cursor": {"modify_time": newest}})).collect::<Vec<_>>()}}}]);
    let catalog = json!({"streams": [{"stream": {"name": "ads"}, "sync_mode": "incremental"}]});
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &config);
        let k = temp_json(&dir, "catalog.json", &catalog);
        let s = temp_json(&dir, "state.json", &states);
        run(
            &["read", "--config", &c, "--catalog", &k, "--state", &s],
            "",
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records = out.stdout.iter().filter(|m| m["type"] == "RECORD").count();
    assert!(
        (1..5).contains(&records),
        "{records} ads re-emitted after a migrated 4.x state"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn state_lines_as_read_printed_them_resume_the_next_read() {
    let sim = simulator::spawn(small()).await.unwrap();
    let config = sim_config(&sim.base_url(), "2024-01-01", json!({}));
    let catalog = json!({"streams": [
        {"stream": {"name": "ads"}, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"},
        {"stream": {"name": "campaigns"}, "sync_mode": "incremental", "destination_sync_mode": "append_dedup"}]});
    let (first, printed, inner) = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &config);
        let k = temp_json(&dir, "catalog.json", &catalog);
        let first = run(&["read", "--config", &c, "--catalog", &k], "", &[]);
        // The STATE lines exactly as stdout printed them, one per line (what
        // `grep '"type":"STATE"' out.jsonl > state.jsonl` keeps).
        let lines: Vec<&str> = first
            .stdout_text
            .lines()
            .filter(|l| l.contains("\"type\":\"STATE\""))
            .collect();
        assert!(lines.len() >= 2, "{}", first.stdout_text);
        let state = dir.path().join("state.jsonl");
        std::fs::write(&state, lines.join("\n") + "\n").unwrap();
        let read_with = |state: &str| {
            run(
                &["read", "--config", &c, "--catalog", &k, "--state", state],
                "",
                &[],
            )
        };
        let printed = read_with(state.to_str().unwrap());
        // The form `--state` always took: the inner state messages, in an array.
        let messages: Vec<Value> = first
            .stdout
            .iter()
            .filter(|m| m["type"] == "STATE")
            .map(|m| m["state"].clone())
            .collect();
        let inner = read_with(&temp_json(&dir, "inner.json", &json!(messages)));
        (first, printed, inner)
    })
    .await
    .unwrap();
    for out in [&first, &printed, &inner] {
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let records = |out: &crate::common::Output| -> Vec<String> {
        let mut docs: Vec<String> = out
            .stdout
            .iter()
            .filter(|m| m["type"] == "RECORD")
            .map(|m| format!("{} {}", m["record"]["stream"], m["record"]["data"]))
            .collect();
        docs.sort();
        docs
    };
    assert!(records(&first).len() > 50, "{}", records(&first).len());
    // Resumed from the cursors, exactly as from the inner messages: what the first run read
    // that was modified at or after the cursor it left for its stream and account (the cursor
    // stays a while before the listing began, and the simulator dates some entities later
    // today, so how many depends on the time of day; which ones does not).
    let cursors: BTreeMap<(String, String), String> = first
        .stdout
        .iter()
        .filter(|m| m["type"] == "STATE")
        .flat_map(|m| {
            let stream = &m["state"]["stream"];
            let name = stream["stream_descriptor"]["name"]
                .as_str()
                .unwrap_or_default();
            let entries = stream["stream_state"]["advertisers"].as_object().cloned();
            entries.into_iter().flatten().map(move |(id, entry)| {
                let cursor = entry["cursor"].as_str().unwrap_or_default().to_string();
                ((name.to_string(), id), cursor)
            })
        })
        .collect();
    let mut since_cursor: Vec<String> = first
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD")
        .filter(|m| {
            let (stream, data) = (&m["record"]["stream"], &m["record"]["data"]);
            let key = (
                stream.as_str().unwrap_or_default().to_string(),
                data["advertiser_id"]
                    .to_string()
                    .trim_matches('"')
                    .to_string(),
            );
            let cursor = cursors
                .get(&key)
                .expect("a cursor for every stream and account read");
            data["modify_time"].as_str().unwrap_or_default() >= cursor.as_str()
        })
        .map(|m| format!("{} {}", m["record"]["stream"], m["record"]["data"]))
        .collect();
    since_cursor.sort();
    let again = records(&printed);
    assert!(
        again.len() < records(&first).len(),
        "{} records again",
        again.len()
    );
    assert_eq!(again, since_cursor);
    assert_eq!(again, records(&inner));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_fail_validate_and_check_with_the_fix() {
    let sim = simulator::spawn(small()).await.unwrap();
    let mut config = sim_config(&sim.base_url(), "2024-01-01", json!({}));
    config["credentials"]["access_token"] = json!("revoked-token-Q1");
    let request = json!({"validate": {"name": "acmeCo/t", "config": config.clone(), "bindings": [
        {"resourceConfig": {"stream": "ads", "syncMode": "incremental"}}]}});
    let (flow, airbyte) = tokio::task::spawn_blocking(move || {
        let flow = run(&[], &format!("{request}\n"), &[]);
        let dir = tempfile::tempdir().unwrap();
        let c = temp_json(&dir, "config.json", &config);
        (flow, run(&["check", "--config", &c], "", &[]))
    })
    .await
    .unwrap();
    assert_ne!(flow.code, 0);
    let message = flow.last_log_message();
    assert!(
        message.contains("TikTok rejected the credentials") && message.contains("Re-authenticate"),
        "{message}"
    );
    assert_eq!(airbyte.code, 0);
    let status = &airbyte.stdout[0]["connectionStatus"];
    assert_eq!(status["status"], "FAILED");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("Re-authenticate"));
    for out in [&flow, &airbyte] {
        assert!(
            !out.stderr.contains("revoked-token-Q1")
                && !out.stdout_text.contains("revoked-token-Q1")
        );
    }
}

#[test]
fn demo_prints_records_and_a_per_stream_summary_without_credentials() {
    let out = run(
        &[
            "demo",
            "--advertisers",
            "1",
            "--campaigns",
            "1",
            "--adgroups",
            "1",
            "--ads",
            "2",
            "--days",
            "2",
        ],
        "",
        &[],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let streams: BTreeSet<&str> = out
        .stdout
        .iter()
        .map(|l| l["stream"].as_str().unwrap())
        .collect();
    assert!(out.stdout.iter().all(|l| l["data"].is_object()));
    for expected in [
        "advertisers",
        "campaigns",
        "ads",
        "ads_reports_daily",
        "ads_audience_reports_daily",
    ] {
        assert!(
            streams.contains(expected),
            "demo printed no {expected} records"
        );
    }
    // The summary table: a header, one line per stream with rows, requests and seconds, a total.
    assert!(
        out.stderr.contains("stream")
            && out.stderr.contains("requests")
            && out.stderr.contains("seconds")
    );
    let total = out
        .stderr
        .lines()
        .find(|l| l.starts_with("total"))
        .expect("a total line");
    let rows: usize = total.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert_eq!(
        rows,
        out.stdout.len(),
        "the summary counts the records printed"
    );
}
