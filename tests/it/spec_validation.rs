//! The configs users actually write validate against the spec the binary emits, in a generic
//! JSON-schema validator (what PyAirbyte and other clients run before a read): this connector's
//! README spelling (`client_id`/`client_secret`), Estuary's, and Airbyte's own TikTok connector's
//! (`app_id`/`secret`).

use crate::common::run;
use serde_json::{json, Value};

fn flow(request: Value) -> crate::common::Output {
    run(&[], &format!("{request}\n"), &[])
}

fn airbyte_spec() -> Value {
    let out = run(&["spec"], "", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout[0]["spec"]["connectionSpecification"].clone()
}

fn flow_spec() -> Value {
    let out = flow(json!({"spec": {"connectorType": "IMAGE", "config": {}}}));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout[0]["spec"]["configSchema"].clone()
}

fn errors(schema: &Value, config: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the spec is a valid JSON schema");
    validator
        .iter_errors(config)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect()
}

fn oauth(pairs: &[(&str, &str)]) -> Value {
    let mut credentials = json!({"auth_type": "oauth2.0", "access_token": "tok"});
    for (k, v) in pairs {
        credentials[*k] = json!(v);
    }
    json!({"credentials": credentials, "start_date": "2024-01-01"})
}

#[test]
fn airbyte_spec_accepts_both_spellings_of_the_app_credentials() {
    let schema = airbyte_spec();
    let readme = oauth(&[("client_id", "app"), ("client_secret", "sec")]);
    let airbyte = oauth(&[("app_id", "app"), ("secret", "sec")]);
    // Airbyte's own TikTok connector writes these extra fields; they are not ours but harmless.
    let mut airbyte_connector = airbyte.clone();
    airbyte_connector["credentials"]["advertiser_id"] = json!("7000000000000000001");
    airbyte_connector["end_date"] = json!("2024-02-01");
    airbyte_connector["attribution_window"] = json!(3);
    airbyte_connector["include_deleted"] = json!(false);
    let sandbox = json!({"credentials": {"auth_type": "sandbox_access_token",
        "advertiser_id": "7000000000000000001", "access_token": "tok"}});
    for config in [&readme, &airbyte, &airbyte_connector, &sandbox] {
        assert_eq!(errors(&schema, config), Vec::<String>::new(), "{config}");
        // What the schema accepts, the connector reads.
        if let Err(err) = source_tiktok_marketing::config::parse(config) {
            panic!("{config} passed the schema but not the connector: {err}");
        }
    }
    // One pair is required; half of each is not a pair.
    for bad in [
        oauth(&[]),
        oauth(&[("app_id", "app")]),
        oauth(&[("client_id", "app")]),
        oauth(&[("client_id", "app"), ("secret", "sec")]),
    ] {
        assert!(!errors(&schema, &bad).is_empty(), "accepted {bad}");
    }
}

#[test]
fn flow_spec_accepts_the_estuary_spelling() {
    let schema = flow_spec();
    let estuary = oauth(&[("client_id", "app"), ("client_secret", "sec")]);
    assert_eq!(errors(&schema, &estuary), Vec::<String>::new());
    assert!(!errors(&schema, &oauth(&[("client_id", "app")])).is_empty());
}
