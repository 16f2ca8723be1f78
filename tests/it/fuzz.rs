//! Property-based fuzzing (proptest) of everything that parses outside input: the response
//! decoder and page parser, the config parser, the state parsers (Flow binding states and
//! Airbyte `--state` files) and the record builders. None may panic, whatever the input.
//!
//! A longer run: `PROPTEST_CASES=20000 cargo test --release --test fuzz`.

use proptest::prelude::*;
use serde_json::{json, Value};
use source_tiktok_marketing::capture::{record, state::BindingState};
use source_tiktok_marketing::client::{decode_data, parse_page};
use source_tiktok_marketing::protocol::airbyte::parse_state;
use source_tiktok_marketing::registry::{find, Kind, ReportSpec};
use source_tiktok_marketing::scrub::Scrubber;

/// Arbitrary JSON, biased toward the keys and values our parsers look at.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("code".to_string()),
        Just("message".to_string()),
        Just("data".to_string()),
        Just("list".to_string()),
        Just("page_info".to_string()),
        Just("total_page".to_string()),
        Just("credentials".to_string()),
        Just("auth_type".to_string()),
        Just("advanced".to_string()),
        Just("advertisers".to_string()),
        Just("cursor".to_string()),
        Just("states".to_string()),
        Just("dimensions".to_string()),
        Just("metrics".to_string()),
        Just("ad_id".to_string()),
        Just("stat_time_day".to_string()),
        Just("type".to_string()),
        Just("stream".to_string()),
        "[a-z_]{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop_oneof![
            Just("-".to_string()),
            Just("".to_string()),
            Just("2024-01-01 00:00:00".to_string()),
            Just("oauth2.0".to_string()),
            Just("20.000".to_string()),
            "\\PC{0,20}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn spec(name: &str) -> ReportSpec {
    let Kind::Report(def) = find(name).unwrap().kind else {
        unreachable!()
    };
    ReportSpec::from_def(&def)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn the_decoder_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
        let _ = decode_data("report/integrated/get/", status, &bytes, &Scrubber::new(["secret-x"]));
    }

    #[test]
    fn the_decoder_and_page_parser_never_panic_on_json(body in json_value(), status in prop_oneof![Just(200u16), 100u16..600]) {
        let bytes = body.to_string().into_bytes();
        if let Ok(Some(data)) = decode_data("ad/get/", status, &bytes, &Scrubber::default()) {
            for key in ["list", "musics", "pixels"] {
                let _ = parse_page("ad/get/", data, key, 1);
            }
        }
        // An envelope around arbitrary data, as TikTok would send it.
        let wrapped = json!({"code": 0, "message": "OK", "data": body}).to_string();
        if let Ok(Some(data)) = decode_data("ad/get/", 200, wrapped.as_bytes(), &Scrubber::default()) {
            let _ = parse_page("ad/get/", data, "list", 1);
        }
    }

    #[test]
    fn the_config_parser_never_panics(config in json_value()) {
        let _ = source_tiktok_marketing::config::parse(&config);
        let with_credentials = json!({"credentials": config.clone(), "advanced": config});
        let _ = source_tiktok_marketing::config::parse(&with_credentials);
    }

    #[test]
    fn the_state_parsers_never_panic(state in json_value(), text in "\\PC{0,64}") {
        let _ = BindingState::from_any(&state);
        let _ = BindingState::from_raw(&serde_json::value::RawValue::from_string(state.to_string()).unwrap());
        let _ = parse_state(&state.to_string());
        let _ = parse_state(&text);
        let _ = parse_state(&json!([{"type": "STREAM", "stream": state}]).to_string());
    }

    #[test]
    fn the_record_builders_never_panic(row in json_value(), advertiser in any::<u64>()) {
        let raw = serde_json::value::RawValue::from_string(row.to_string()).unwrap();
        let mut notes = record::Notes::new();
        for name in ["ads_reports_daily", "ads_audience_reports_daily", "campaigns_reports_lifetime"] {
            let _ = record::report_row(&raw, &spec(name), advertiser, &mut notes);
        }
        // Every declared type, under keys the generated rows use.
        let types = record::FieldTypes::from_schema(&json!({"properties": {
            "code": {"type": ["integer", "null"]}, "total_page": {"type": ["number", "null"]},
            "message": {"type": ["string", "null"]}, "cursor": {"type": ["boolean", "null"]},
            "page_info": {"type": ["object", "null"]}, "list": {"type": ["array", "null"]}}}));
        let _ = record::entity(&raw, record::RecordKey::new("ad_id", None), &types, &mut notes);
        let _ = record::entity(&raw, record::RecordKey::new("spark_ads_post_id", Some("/item_info/item_id")), &types, &mut notes);
        let _ = record::advertiser(&raw, &types, &mut notes);
    }
}
