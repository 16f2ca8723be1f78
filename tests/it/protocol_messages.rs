//! What each protocol shows its user, end to end through the binary: in Airbyte, warnings and
//! per-stream progress reach stdout as LOG messages, in order with the records (a platform
//! shows nothing of stderr); in Flow, stdout holds only protocol responses and warnings stay in
//! the stderr logs. A Flow `open` whose state is not an object is refused, naming the field and
//! never echoing it.

use crate::common::{run, sim_config, temp_json};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, Fault, FaultRule, Faults, SimConfig};

const STREAMS: &[&str] = &["advertisers", "campaigns", "ads"];

fn denied_advertiser_sim() -> SimConfig {
    let base = SimConfig {
        data: DataShape {
            advertisers: 3,
            days: 5,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let denied = simulator::Model::new(&base).advertiser_ids()[1];
    SimConfig {
        faults: Faults {
            rules: vec![FaultRule {
                fault: Fault::NoPermission {
                    advertiser_id: denied,
                },
                every: 1,
                paths: None,
            }],
            ..base.faults
        },
        ..base
    }
}

fn index_of(lines: &[Value], what: impl Fn(&Value) -> bool) -> Option<usize> {
    lines.iter().position(what)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_skipped_advertiser_is_an_airbyte_log_warning_on_stdout_in_order() {
    let sim = simulator::spawn(denied_advertiser_sim()).await.unwrap();
    let config = sim_config(
        &sim.base_url(),
        &sim.model().first_day().to_string(),
        json!({}),
    );
    let catalog = json!({"streams": STREAMS.iter().map(|s| json!({
        "stream": {"name": s}, "sync_mode": "full_refresh"})).collect::<Vec<_>>()});
    let out = tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let config = temp_json(&dir, "config.json", &config);
        let catalog = temp_json(&dir, "catalog.json", &catalog);
        run(
            &["read", "--config", &config, "--catalog", &catalog],
            "",
            &[],
        )
    })
    .await
    .unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = &out.stdout;
    let warning = index_of(lines, |m| {
        m["type"] == "LOG"
            && m["log"]["level"] == "WARN"
            && m["log"]["message"]
                .as_str()
                .is_some_and(|t| t.contains("Skipping an advertiser"))
    })
    .unwrap_or_else(|| panic!("no LOG WARN about the skipped advertiser: {lines:?}"));
    // In order: after the streams started, before they all completed, between records.
    let first_started = index_of(lines, |m| {
        m["trace"]["stream_status"]["status"] == "STARTED"
    });
    let last_complete = lines
        .iter()
        .rposition(|m| m["trace"]["stream_status"]["status"] == "COMPLETE");
    assert!(first_started.is_some_and(|s| s < warning), "{lines:?}");
    assert!(last_complete.is_some_and(|c| warning < c), "{lines:?}");
    assert!(
        lines.iter().any(|m| m["type"] == "RECORD"),
        "the other advertisers' records are there"
    );
    // Every LOG line is a well-formed Airbyte LOG message; no level beyond the three we send.
    for log in lines.iter().filter(|m| m["type"] == "LOG") {
        assert!(
            ["WARN", "INFO", "ERROR"].contains(&log["log"]["level"].as_str().unwrap_or("")),
            "{log}"
        );
        assert!(log["log"]["message"].is_string(), "{log}");
    }
    // The same warning is still in the stderr logs.
    assert!(
        out.stderr.contains("Skipping an advertiser"),
        "{}",
        out.stderr
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flow_keeps_warnings_on_stderr_and_stdout_holds_only_responses() {
    let sim = simulator::spawn(denied_advertiser_sim()).await.unwrap();
    let config = sim_config(
        &sim.base_url(),
        &sim.model().first_day().to_string(),
        json!({}),
    );
    let session = tokio::task::spawn_blocking(move || {
        crate::common::flow_session(&config, STREAMS, &json!({}), &[])
    })
    .await
    .unwrap();
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("Skipping an advertiser"),
        "{}",
        out.stderr
    );
    for line in &out.stdout {
        let kind = line.as_object().and_then(|o| o.keys().next()).cloned();
        assert!(
            matches!(kind.as_deref(), Some("opened" | "captured" | "checkpoint")),
            "not a Flow response: {line}"
        );
    }
    sim.shutdown().await;
}

#[test]
fn flow_open_refuses_a_state_that_is_not_an_object() {
    let mut config = crate::common::production_config();
    config["advanced"] = json!({"base_url": "http://127.0.0.1:9"});
    for state in [json!("garbage"), json!([1, 2, 3]), json!(42)] {
        let request = crate::common::open_request(&config, &["ads"], &state);
        let out = run(&[], &format!("{request}\n"), &[]);
        assert_ne!(out.code, 0, "{state}: accepted");
        assert!(
            out.stdout.iter().all(|m| m.get("opened").is_none()),
            "{state}: opened before refusing"
        );
        let message = out.last_log_message();
        assert!(
            message.contains("open.state") && message.contains("an object"),
            "{state}: {message}"
        );
        assert!(!message.contains("garbage"), "{message} echoes the state");
        for canary in ["app-canary-1", "secret-canary-2", "token-canary-3"] {
            assert!(!out.stderr.contains(canary), "{canary} leaked");
        }
    }
}
