//! The bad-input corpus: malformed Flow requests, catalogs and state files. Each must
//! end with a clear error that names what is wrong and a non-zero exit, never a panic or a hang
//! (the harness kills a run that does not end). Invalid configs have their own corpus in
//! `protocol.rs`.

use crate::common::{production_config, run, sandbox_config, temp_json, Output};
use serde_json::{json, Value};

fn offline_config() -> Value {
    let mut config = production_config();
    // Nothing listens there: a case that wrongly reached the network would fail differently.
    config["advanced"] = json!({"base_url": "http://127.0.0.1:9"});
    config
}

fn refused(out: &Output, needle: &str, what: &str) {
    assert_ne!(out.code, 0, "{what}: exit 0; stdout {:?}", out.stdout);
    assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
    let message = out.last_log_message();
    assert!(
        message.contains(needle),
        "{what}: {message:?} does not contain {needle:?}"
    );
    for canary in ["app-canary-1", "secret-canary-2", "token-canary-3"] {
        assert!(
            !out.stderr.contains(canary) && !out.stdout_text.contains(canary),
            "{what}: {canary} leaked"
        );
    }
}

#[test]
fn malformed_flow_requests() {
    let config = offline_config();
    let binding = |resource: Value| json!({"resourceConfig": resource, "collection": {"name": "a/b", "key": ["/x"], "writeSchema": {}}});
    let open = |bindings: Value, state: Value| {
        json!({"open": {"capture": {"name": "a/t", "config": config, "bindings": bindings}, "version": "v", "range": {}, "state": state}})
            .to_string()
    };
    let ads = json!([{"resourceConfig": {"stream": "ads", "syncMode": "incremental"}, "resourcePath": ["ads"], "stateKey": "ads"}]);
    let cases: Vec<(String, &str)> = vec![
        ("{}".into(), "none of spec"),
        ("[1, 2]".into(), "exactly one of spec"),
        ("null".into(), "exactly one of spec"),
        ("\"spec\"".into(), "exactly one of spec"),
        ("{\"spec\": {".into(), "not valid JSON"),
        ("this is not json".into(), "not valid JSON"),
        (json!({"spec": {}, "discover": {}}).to_string(), "exactly one of spec"),
        (json!({"open": {}}).to_string(), "credentials"),
        (json!({"discover": {"config": "config as text"}}).to_string(), "JSON object"),
        (json!({"validate": {"config": config, "bindings": [binding(json!({}))]}}).to_string(), "resourceConfig.stream"),
        (json!({"validate": {"config": config, "bindings": [binding(json!({"stream": 5}))]}}).to_string(), "resourceConfig.stream"),
        (json!({"validate": {"config": config, "bindings": [binding(json!({"stream": "ads", "syncMode": 1}))]}}).to_string(), "syncMode"),
        (json!({"apply": {"capture": {"config": config, "bindings": [{"resourceConfig": {"stream": "tiktok_shop"}}]}}}).to_string(), "Unknown stream"),
        (open(json!([{"resourceConfig": {"stream": "nope"}}]), json!({})), "Unknown stream"),
        (open(ads.clone(), json!({"bindingStateV1": {"ads": [1, 2]}})), "not in a shape"),
        (open(ads.clone(), json!({"bindingStateV1": {"ads": {"advertisers": "campaigns"}}})), "not in a shape"),
        (open(ads, json!({"ads": {"unknown_cursor": 3}})), "not in a shape"),
        (json!({"validate": {"config": sandbox_config(), "bindings": [binding(json!({"stream": "advertisers_reports_daily"}))]}}).to_string(), "sandbox"),
    ];
    for (request, needle) in &cases {
        let out = run(&[], &format!("{request}\n"), &[]);
        refused(&out, needle, request);
        assert!(
            out.stdout.iter().all(|m| m.get("opened").is_none()),
            "{request}: opened before refusing"
        );
    }
    let out = run(&[], "", &[]);
    refused(&out, "No request arrived", "empty stdin");
    assert!(cases.len() + 1 >= 18);
}

#[test]
fn malformed_catalogs() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_json(&dir, "config.json", &offline_config());
    let sandbox = temp_json(&dir, "sandbox.json", &{
        let mut c = sandbox_config();
        c["advanced"] = json!({"base_url": "http://127.0.0.1:9"});
        c
    });
    let entry = |name: Value, mode: Value| json!({"stream": {"name": name}, "sync_mode": mode});
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "no \"streams\" array", "config"),
        (json!({"streams": "ads"}), "no \"streams\" array", "config"),
        (
            json!({"streams": [{"stream": {}}]}),
            "streams[0].stream.name is missing",
            "config",
        ),
        (
            json!({"streams": [entry(json!("tiktok_shop"), json!("incremental"))]}),
            "Unknown stream",
            "config",
        ),
        (
            json!({"streams": [entry(json!("ads"), json!("sometimes"))]}),
            "sync_mode",
            "config",
        ),
        (
            json!({"streams": [entry(json!("ads"), json!("incremental")), entry(json!("ads"), json!("incremental"))]}),
            "listed twice",
            "config",
        ),
        (
            json!({"streams": [entry(json!(7), json!("incremental"))]}),
            "stream.name",
            "config",
        ),
        (
            json!({"streams": [entry(json!("advertisers_reports_daily"), json!("incremental"))]}),
            "sandbox",
            "sandbox",
        ),
    ];
    for (n, (catalog, needle, which)) in cases.iter().enumerate() {
        let path = temp_json(&dir, &format!("catalog{n}.json"), catalog);
        let cfg = if *which == "sandbox" {
            &sandbox
        } else {
            &config
        };
        let out = run(&["read", "--config", cfg, "--catalog", &path], "", &[]);
        refused(&out, needle, &catalog.to_string());
        assert_eq!(
            out.stdout.last().unwrap()["trace"]["error"]["failure_type"],
            "config_error"
        );
    }
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, "{\"streams\": [{\"stream\"").unwrap();
    let out = run(
        &[
            "read",
            "--config",
            &config,
            "--catalog",
            truncated.to_str().unwrap(),
        ],
        "",
        &[],
    );
    refused(&out, "not valid JSON", "truncated catalog");
    assert!(
        out.last_log_message().contains("--catalog"),
        "{}",
        out.stderr
    );
    let out = run(
        &[
            "read",
            "--config",
            &config,
            "--catalog",
            "/nonexistent/catalog.json",
        ],
        "",
        &[],
    );
    refused(&out, "/nonexistent/catalog.json", "missing catalog");
}

#[test]
fn malformed_state_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_json(&dir, "config.json", &offline_config());
    let catalog = temp_json(
        &dir,
        "catalog.json",
        &json!({"streams": [{"stream": {"name": "ads"}, "sync_mode": "incremental"}]}),
    );
    let cases: Vec<(&str, &str)> = vec![
        ("[{\"type\": \"STREAM\"", "not valid JSON"),
        ("\"a state\"", "expected an array of state messages"),
        ("[1]", "neither a STREAM"),
        ("[{\"type\": \"BOGUS\"}]", "neither a STREAM"),
        (
            "[{\"type\": \"STREAM\", \"stream\": {}}]",
            "stream.stream_descriptor",
        ),
        (
            r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"ads"},"stream_state":{"advertisers":5}}}]"#,
            "not in a shape",
        ),
        (r#"{"ads": [1, 2]}"#, "not in a shape"),
        (
            r#"[{"type":"STREAM","stream":{"stream_descriptor":{"name":"ads"},"stream_state":{"cursor_of_another_stream":{"x":1}}}}]"#,
            "not in a shape",
        ),
    ];
    for (n, (state, needle)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("state{n}.json"));
        std::fs::write(&path, state).unwrap();
        let out = run(
            &[
                "read",
                "--config",
                &config,
                "--catalog",
                &catalog,
                "--state",
                path.to_str().unwrap(),
            ],
            "",
            &[],
        );
        refused(&out, needle, state);
    }
    let out = run(
        &[
            "read",
            "--config",
            &config,
            "--catalog",
            &catalog,
            "--state",
            "/nonexistent/state.json",
        ],
        "",
        &[],
    );
    refused(&out, "/nonexistent/state.json", "missing state file");
}

/// A megabyte in a config value (a custom report name, a dimension, a date, an advertiser id)
/// is echoed cut to a few hundred characters with its length, never whole.
#[test]
fn huge_config_values_are_echoed_cut_with_their_length() {
    let huge = "z".repeat(1 << 20);
    let report = |name: &str, dimensions: Value| {
        json!([{"name": name, "report_type": "BASIC", "data_level": "AUCTION_AD",
                "dimensions": dimensions, "metrics": ["spend"]}])
    };
    let cases: Vec<(&str, Value)> = vec![
        ("custom_reports", report(&huge, json!(["ad_id"]))),
        ("custom_reports", report("ok_name", json!(["ad_id", huge]))),
        ("start_date", json!(huge)),
    ];
    for (field, value) in cases {
        let mut config = offline_config();
        config[field] = value;
        let err = source_tiktok_marketing::config::parse(&config)
            .unwrap_err()
            .to_string();
        assert!(err.len() < 1_000, "{field}: {} bytes", err.len());
        assert!(
            err.contains(&format!("({} characters in all)", 1 << 20)),
            "{field}: {err}"
        );
    }
    let mut config = offline_config();
    config["advanced"]["advertiser_ids"] = json!([huge]);
    let err = source_tiktok_marketing::config::parse(&config)
        .unwrap_err()
        .to_string();
    assert!(err.len() < 1_000, "advertiser_ids: {err}");
}
