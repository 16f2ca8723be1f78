//! The binary's answers that need no TikTok: spec and discover in both protocols (pinned by
//! snapshots, so any change to them is deliberate), validate and apply refusals, and the
//! handling of invalid configs: Flow exits non-zero with the message as the last log line,
//! Airbyte `check` reports FAILED and exits 0. No secret appears in any output.

use crate::common::{production_config, run, sandbox_config, temp_json};
use serde_json::{json, Value};

fn flow(request: Value) -> crate::common::Output {
    run(&[], &format!("{request}\n"), &[])
}

#[test]
fn flow_spec_is_pinned() {
    let out = flow(json!({"spec": {"connectorType": "IMAGE", "config": {}}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.len(), 1);
    let spec = &out.stdout[0]["spec"];
    assert_eq!(spec["protocol"], 3032023);
    assert_eq!(spec["resourcePathPointers"], json!(["/stream"]));
    assert_eq!(spec["oauth2"]["provider"], "tiktok");
    insta::assert_json_snapshot!("flow_spec", out.stdout[0]);
}

#[test]
fn airbyte_spec_is_pinned() {
    let out = run(&["spec"], "", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout[0]["type"], "SPEC");
    assert_eq!(
        out.stdout[0]["spec"]["advanced_auth"]["predicate_value"],
        "oauth2.0"
    );
    insta::assert_json_snapshot!("airbyte_spec", out.stdout[0]);
}

fn discovered_names(out: &crate::common::Output) -> Vec<String> {
    out.stdout[0]["discovered"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["recommendedName"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn flow_discover_is_pinned_for_production_and_sandbox() {
    let prod = flow(json!({"discover": {"connectorType": "IMAGE", "config": production_config()}}));
    assert_eq!(prod.code, 0, "{}", prod.stderr);
    let names = discovered_names(&prod);
    assert_eq!(names.len(), 48, "25 core resources and 23 extras");
    let disabled: Vec<&Value> = prod.stdout[0]["discovered"]["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["disable"] == json!(true))
        .collect();
    // Only the core resources are enabled: the 4 hourly audience reports TikTok refuses and
    // every extra (opt-in, each costs requests per ad account) are offered disabled.
    assert_eq!(disabled.len(), 4 + 23);
    for binding in &disabled {
        let name = binding["recommendedName"].as_str().unwrap();
        let core = source_tiktok_marketing::registry::find(name).is_some_and(|d| d.core);
        assert!(
            !core || name.contains("audience_reports") && name.contains("hourly"),
            "{name}"
        );
    }
    insta::assert_json_snapshot!("flow_discover_production", prod.stdout[0]);
    let sandbox = flow(json!({"discover": {"connectorType": "IMAGE", "config": sandbox_config()}}));
    assert_eq!(sandbox.code, 0, "{}", sandbox.stderr);
    assert_eq!(
        discovered_names(&sandbox).len(),
        31,
        "19 core resources and 12 extras"
    );
    insta::assert_json_snapshot!("flow_discover_sandbox_names", discovered_names(&sandbox));
}

#[test]
fn flow_discover_with_report_granularity_offers_legacy_names() {
    let mut config = production_config();
    config["report_granularity"] = json!("HOUR");
    let out = flow(json!({"discover": {"config": config}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    insta::assert_json_snapshot!("flow_discover_hour_names", discovered_names(&out));
}

#[test]
fn airbyte_discover_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let config = temp_json(&dir, "config.json", &production_config());
    let out = run(&["discover", "--config", &config], "", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let streams = out.stdout[0]["catalog"]["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 48);
    let summary: Vec<Value> = streams
        .iter()
        .map(|s| {
            json!({"name": s["name"], "modes": s["supported_sync_modes"],
                   "pk": s["source_defined_primary_key"], "cursor": s["default_cursor_field"]})
        })
        .collect();
    insta::assert_json_snapshot!("airbyte_discover_summary", summary);
}

#[test]
fn validate_rejects_unknown_and_sandbox_unavailable_streams() {
    let binding = |stream: &str| {
        json!({"resourceConfig": {"stream": stream, "syncMode": "incremental"},
               "collection": {"name": "acmeCo/x", "key": ["/x"], "writeSchema": {}}})
    };
    let out = flow(
        json!({"validate": {"name": "acmeCo/tiktok", "config": production_config(),
                                        "bindings": [binding("ads"), binding("ads_reprots_daily")]}}),
    );
    assert_ne!(out.code, 0);
    assert!(out.stdout.is_empty());
    let message = out.last_log_message();
    assert!(
        message.contains("Unknown stream \"ads_reprots_daily\""),
        "{message}"
    );
    let out = flow(json!({"validate": {"config": sandbox_config(),
                                        "bindings": [binding("advertisers_reports_daily")]}}));
    assert_ne!(out.code, 0);
    assert!(
        out.last_log_message()
            .contains("not available in the TikTok sandbox"),
        "{}",
        out.stderr
    );
    let out = flow(json!({"validate": {"config": production_config(),
                                        "bindings": [binding("ads"), binding("ads")]}}));
    assert!(
        out.last_log_message().contains("bound twice"),
        "{}",
        out.stderr
    );
    let out = flow(json!({"validate": {"config": production_config(),
                                        "bindings": [{"resourceConfig": {"stream": "ads", "syncMode": "sometimes"}}]}}));
    assert!(
        out.last_log_message().contains("syncMode"),
        "{}",
        out.stderr
    );
}

/// Custom reports asking a metric TikTok does not document, or one TikTok documents as
/// unsupported at the report's level, with what the refusal must name: the metric, the report,
/// its field and the nearest documented names.
fn custom_reports_tiktok_would_refuse() -> Vec<(Value, Vec<&'static str>)> {
    let with = |report: Value| {
        let mut config = production_config();
        config["custom_reports"] = json!([report]);
        config
    };
    vec![
        (
            with(
                json!({"name": "funnel", "report_type": "BASIC", "data_level": "AUCTION_AD",
                        "dimensions": ["ad_id", "stat_time_day"],
                        "metrics": ["spend", "complete_paymnet_roas"]}),
            ),
            vec![
                "\"funnel\"",
                "custom_reports[0].metrics",
                "\"complete_paymnet_roas\"",
                "does not document",
                "\"complete_payment_roas\"",
            ],
        ),
        (
            with(json!({"name": "by_campaign", "report_type": "BASIC",
                        "data_level": "AUCTION_CAMPAIGN",
                        "dimensions": ["campaign_id", "stat_time_day"],
                        "metrics": ["spend", "adgroup_name"]})),
            vec![
                "\"by_campaign\"",
                "custom_reports[0].metrics",
                "\"adgroup_name\"",
                "AUCTION_CAMPAIGN",
                "ad group and ad levels",
                "nearest documented metrics this report can take",
            ],
        ),
    ]
}

#[test]
fn custom_report_metrics_tiktok_would_refuse_fail_flow_validate_and_airbyte_check() {
    let dir = tempfile::tempdir().unwrap();
    for (n, (config, needles)) in custom_reports_tiktok_would_refuse().into_iter().enumerate() {
        let out = flow(
            json!({"validate": {"name": "acmeCo/tiktok", "config": config,
            "bindings": [{"resourceConfig": {"stream": "ads", "syncMode": "incremental"},
                          "collection": {"name": "acmeCo/x", "key": ["/x"], "writeSchema": {}}}]}}),
        );
        assert_ne!(out.code, 0, "{config} should fail validate");
        assert!(out.stdout.is_empty(), "{:?}", out.stdout);
        let message = out.last_log_message();
        for needle in &needles {
            assert!(
                message.contains(needle),
                "validate: {needle} in {message:?}"
            );
        }
        let path = temp_json(&dir, &format!("config{n}.json"), &config);
        let out = run(&["check", "--config", &path], "", &[]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let status = &out.stdout[0]["connectionStatus"];
        assert_eq!(status["status"], "FAILED", "{config}");
        let message = status["message"].as_str().unwrap();
        for needle in &needles {
            assert!(message.contains(needle), "check: {needle} in {message:?}");
        }
    }
}

#[test]
fn apply_is_a_no_op_for_valid_bindings() {
    let capture = json!({"name": "acmeCo/tiktok", "config": production_config(), "bindings": [
        {"resourceConfig": {"stream": "ads", "syncMode": "incremental"}, "resourcePath": ["ads"], "stateKey": "ads"}]});
    let out = flow(json!({"apply": {"capture": capture, "version": "v1"}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, [json!({"applied": {"actionDescription": ""}})]);
}

#[test]
fn open_without_bindings_answers_opened_and_a_checkpoint_then_exits() {
    let capture = json!({"name": "acmeCo/tiktok", "config": production_config(), "bindings": []});
    let out =
        flow(json!({"open": {"capture": capture, "version": "v1", "range": {}, "state": {}}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout[0],
        json!({"opened": {"explicitAcknowledgements": false}})
    );
    assert!(out.stdout[1].get("checkpoint").is_some());
}

/// Invalid configs: each fails naming the field, in both protocols, without a panic.
fn invalid_configs() -> Vec<(Value, &'static str)> {
    let with = |patch: Value| {
        let mut config = production_config();
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        config
    };
    vec![
        (json!({}), "credentials"),
        (
            json!({"credentials": {"access_token": "token-canary-3"}}),
            "credentials.auth_type",
        ),
        (
            json!({"credentials": {"auth_type": "password", "access_token": "token-canary-3"}}),
            "credentials.auth_type",
        ),
        (
            json!({"credentials": {"auth_type": "oauth2.0", "client_id": "app-canary-1", "access_token": "token-canary-3"}}),
            "credentials.client_secret",
        ),
        (
            json!({"credentials": {"auth_type": "oauth2.0", "client_id": "app-canary-1", "client_secret": "secret-canary-2"}}),
            "credentials.access_token",
        ),
        (
            json!({"credentials": {"auth_type": "sandbox_access_token", "access_token": "token-canary-3"}}),
            "credentials.advertiser_id",
        ),
        (
            json!({"credentials": {"auth_type": "sandbox_access_token", "advertiser_id": "acct-12", "access_token": "token-canary-3"}}),
            "credentials.advertiser_id",
        ),
        (with(json!({"start_date": "01/02/2024"})), "start_date"),
        (with(json!({"start_date": "2024-02-31"})), "start_date"),
        (with(json!({"end_date": "2023-12-31"})), "end_date"),
        (with(json!({"start_date": 2024})), "start_date"),
        (
            with(json!({"report_granularity": "MONTH"})),
            "report_granularity",
        ),
        (
            with(json!({"advanced": {"lookback_days": -3}})),
            "advanced.lookback_days",
        ),
        (
            with(json!({"advanced": {"lookback_days": 400}})),
            "advanced.lookback_days",
        ),
        (
            with(json!({"advanced": {"base_url": "localhost:8080"}})),
            "advanced.base_url",
        ),
        (
            with(json!({"advanced": {"base_url": "file:///etc/passwd"}})),
            "advanced.base_url",
        ),
        (
            with(json!({"advanced": {"requests_per_second": -1}})),
            "advanced.requests_per_second",
        ),
        (
            with(json!({"advanced": {"include_deleted": "no"}})),
            "advanced.include_deleted",
        ),
        (
            with(json!({"advanced": {"advertiser_ids": [123]}})),
            "advanced.advertiser_ids",
        ),
        (
            with(
                json!({"custom_reports": [{"name": "x", "report_type": "BASIC", "data_level": "AUCTION_AD", "dimensions": ["stat_time_day"], "metrics": ["spend"]}]}),
            ),
            "custom_reports[0]",
        ),
        // Misspelled fields: refused naming the nearest known one, never ignored.
        (
            with(json!({"start_dat": "2024-01-01"})),
            "`start_dat` (did you mean `start_date`?)",
        ),
        (
            with(json!({"advanced": {"lookback_day": 7}})),
            "`advanced.lookback_day` (did you mean `advanced.lookback_days`?)",
        ),
    ]
}

#[test]
fn a_misspelled_field_fails_flow_validate_naming_it() {
    let mut config = production_config();
    config["advanced"] = json!({"lookback_day": 7});
    let out = flow(
        json!({"validate": {"name": "acmeCo/t", "connectorType": "IMAGE",
        "config": config, "bindings": [
        {"resourceConfig": {"stream": "ads", "syncMode": "incremental"}}]}}),
    );
    assert_ne!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
    let message = out.last_log_message();
    assert!(
        message.contains("`advanced.lookback_day` (did you mean `advanced.lookback_days`?)"),
        "{message}"
    );
}

#[test]
fn invalid_configs_fail_flow_discover_with_the_field_as_last_log_line() {
    for (config, field) in invalid_configs() {
        let out = flow(json!({"discover": {"connectorType": "IMAGE", "config": config}}));
        assert_ne!(out.code, 0, "{config} should fail");
        assert!(out.stdout.is_empty(), "{config}: {:?}", out.stdout);
        let message = out.last_log_message();
        assert!(
            message.contains(field),
            "{config}: {message:?} does not name {field}"
        );
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        for canary in ["app-canary-1", "secret-canary-2", "token-canary-3"] {
            assert!(
                !out.stderr.contains(canary),
                "{canary} leaked: {}",
                out.stderr
            );
        }
    }
}

#[test]
fn invalid_configs_fail_airbyte_check_with_failed_status_and_exit_zero() {
    let dir = tempfile::tempdir().unwrap();
    for (n, (config, field)) in invalid_configs().into_iter().enumerate() {
        let path = temp_json(&dir, &format!("config{n}.json"), &config);
        let out = run(&["check", "--config", &path], "", &[]);
        assert_eq!(out.code, 0, "{config}: {}", out.stderr);
        assert_eq!(out.stdout.len(), 1, "{config}: {:?}", out.stdout);
        let status = &out.stdout[0]["connectionStatus"];
        assert_eq!(status["status"], "FAILED", "{config}");
        let message = status["message"].as_str().unwrap();
        assert!(
            message.contains(field),
            "{config}: {message:?} does not name {field}"
        );
        for canary in ["app-canary-1", "secret-canary-2", "token-canary-3"] {
            assert!(
                !out.stdout_text.contains(canary) && !out.stderr.contains(canary),
                "{canary} leaked"
            );
        }
        // discover fails with an ERROR trace and a non-zero exit.
        let out = run(&["discover", "--config", &path], "", &[]);
        assert_ne!(out.code, 0);
        assert_eq!(
            out.stdout.last().unwrap()["trace"]["error"]["failure_type"],
            "config_error"
        );
    }
}

#[test]
fn a_missing_config_file_fails_check_with_its_path() {
    let out = run(&["check", "--config", "/nonexistent/config.json"], "", &[]);
    assert_eq!(out.code, 0);
    assert!(out.stdout[0]["connectionStatus"]["message"]
        .as_str()
        .unwrap()
        .contains("/nonexistent/config.json"));
}
