//! Records as clients load them: every record of every stream fits its schema, each schema
//! field has exactly one JSON type (plus null), and rows a hostile or sloppy server sends (lone
//! UTF-16 surrogates, numbers outside the double range, ids that are not positive 64-bit
//! integers, values of another JSON type, nesting deeper than the parser reads) are repaired
//! or refused loudly, never dropped silently.

use crate::common::{flow_session, sim_config};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, SimConfig};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Every schema property (at any depth) declares one JSON type, or one type and null.
fn assert_single_types(stream: &str, schema: &Value, at: &str) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, property) in properties {
        let types: Vec<&str> = match &property["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            other => panic!("{stream}: {at}{name} has no type: {other}"),
        };
        let non_null: Vec<&&str> = types.iter().filter(|t| **t != "null").collect();
        assert_eq!(
            non_null.len(),
            1,
            "{stream}: {at}{name} declares {types:?}; clients need exactly one type"
        );
        assert_single_types(stream, property, &format!("{at}{name}."));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_record_of_every_stream_fits_its_one_typed_schema() {
    let sim = simulator::spawn(SimConfig {
        data: DataShape {
            advertisers: 2,
            days: 2,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let today = chrono::Utc::now().date_naive();
    let start = today.pred_opt().unwrap().to_string();
    let cfg = sim_config(&sim.base_url(), &start, json!({}));
    let parsed = source_tiktok_marketing::config::parse(&cfg).unwrap();
    let catalog = source_tiktok_marketing::registry::catalog(&parsed);
    assert!(catalog.len() >= 47);
    for stream in &catalog {
        assert_single_types(&stream.name, &stream.schema, "");
    }
    let names: Vec<String> = catalog
        .iter()
        .filter(|s| !s.name.contains("audience_reports") || !s.name.contains("hourly"))
        .map(|s| s.name.clone())
        .collect();
    let session = tokio::task::spawn_blocking({
        let names = names.clone();
        move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            flow_session(&cfg, &names, &json!({}), &[])
        }
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let mut counts = vec![0usize; names.len()];
    for (binding, doc) in &session.docs {
        let stream = catalog.iter().find(|s| s.name == names[*binding]).unwrap();
        let validator = jsonschema::validator_for(&stream.schema).unwrap();
        let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?} in {doc}", stream.name);
        counts[*binding] += 1;
    }
    for (name, count) in names.iter().zip(&counts) {
        assert!(*count > 0, "{name}: no records to check");
    }
    sim.shutdown().await;
}

fn envelope(data: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        format!(r#"{{"code": 0, "message": "OK", "request_id": "r1", "data": {data}}}"#),
        "application/json",
    )
}

/// A TikTok answering `ads` with the rows given (raw JSON text, so escapes stay as sent).
async fn server_with_ads(rows: &[String]) -> MockServer {
    let server = MockServer::start().await;
    let api = |p: &str| format!("/open_api/v1.3/{p}");
    Mock::given(method("GET"))
        .and(path(api("oauth2/advertiser/get/")))
        .respond_with(envelope(
            r#"{"list": [{"advertiser_id": "7000000000000000001", "advertiser_name": "A"}]}"#,
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("advertiser/info/")))
        .respond_with(envelope(
            r#"{"list": [{"advertiser_id": "7000000000000000001", "name": "A", "create_time": 1704067200}]}"#,
        ))
        .mount(&server)
        .await;
    let list = rows.join(",");
    // TikTok lists TopView ads only when asked for them alone: this account has none.
    Mock::given(method("GET"))
        .and(path(api("ad/get/")))
        .and(wiremock::matchers::query_param_contains(
            "filtering",
            "RESERVATION_TOP_VIEW",
        ))
        .respond_with(envelope(
            r#"{"list": [], "page_info": {"page": 1, "page_size": 100, "total_number": 0, "total_page": 0}}"#,
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(api("ad/get/")))
        .respond_with(envelope(&format!(
            r#"{{"list": [{list}], "page_info": {{"page": 1, "page_size": 1000, "total_number": {n}, "total_page": 1}}}}"#,
            n = rows.len()
        )))
        .mount(&server)
        .await;
    server
}

fn ad(id: &str, name: &str, extra: &str) -> String {
    format!(
        r#"{{"ad_id": {id}, "adgroup_id": "11", "campaign_id": "12", "advertiser_id": "7000000000000000001", "ad_name": "{name}", "modify_time": "2024-01-02 00:00:00"{extra}}}"#
    )
}

fn warnings(stderr: &str, needle: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.contains("\"WARN\"") && l.contains(needle))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_values_are_repaired_or_refused_and_warned_once_per_stream() {
    let rows = vec![
        // Half an emoji, twice: both rows are kept, one warning.
        ad("1", r"Sale \ud83d", ""),
        ad("2", r"\ude00 again", ""),
        // A paired surrogate is a real emoji and no warning.
        ad("3", r"Party \ud83c\udf89", ""),
        // Numbers outside the double range become null, with a warning.
        ad("4", "big", r#", "deep_link": 1e+999, "video_id": "v""#),
        // Ids must be positive 64-bit integers: an integer the schema allows is kept (warned),
        // anything else skips the row, naming the key.
        ad("-5", "negative", ""),
        ad("1.5", "fraction", ""),
        ad(r#""12x""#, "text", ""),
        // Another JSON type than declared: converted when possible, else null (warned once).
        ad(
            "6",
            "typed",
            r#", "ad_texts": "not a list", "is_aco": "true""#,
        ),
        ad("8", "typed again", r#", "ad_texts": "still not a list""#),
    ];
    let server = server_with_ads(&rows).await;
    let session = tokio::task::spawn_blocking({
        let server_uri = server.uri();
        move || {
            let cfg = sim_config(&server_uri, "2024-01-01", json!({}));
            flow_session(&cfg, &["ads"], &json!({}), &[])
        }
    })
    .await
    .unwrap();
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let by_id = |id: i64| {
        session
            .docs
            .iter()
            .map(|(_, d)| d)
            .find(|d| d["ad_id"] == json!(id))
            .unwrap_or_else(|| panic!("ad {id} was dropped: {stderr}"))
    };
    assert_eq!(by_id(1)["ad_name"], "Sale \u{FFFD}");
    assert_eq!(by_id(2)["ad_name"], "\u{FFFD} again");
    assert_eq!(by_id(3)["ad_name"], "Party \u{1F389}");
    assert_eq!(warnings(stderr, "surrogate"), 1, "{stderr}");

    assert_eq!(by_id(4)["deep_link"], Value::Null);
    assert_eq!(warnings(stderr, "double-precision"), 1, "{stderr}");

    assert_eq!(by_id(-5)["ad_name"], "negative");
    assert_eq!(
        warnings(stderr, "not a positive 64-bit integer; it is kept"),
        1
    );
    assert_eq!(session.docs.len(), 7, "two rows skipped: {stderr}");
    assert!(
        stderr.contains("ad_id is 1.5") && stderr.contains("ad_id is \\\"12x\\\""),
        "skipped rows are named: {stderr}"
    );

    assert_eq!(by_id(6)["ad_texts"], Value::Null);
    assert_eq!(by_id(6)["is_aco"], json!(true));
    assert_eq!(by_id(8)["ad_texts"], Value::Null);
    assert_eq!(warnings(stderr, "where the schema declares"), 1, "{stderr}");
    // Every record still fits its schema.
    let parsed =
        source_tiktok_marketing::config::parse(&sim_config(&server.uri(), "2024-01-01", json!({})))
            .unwrap();
    let schema = source_tiktok_marketing::registry::catalog(&parsed)
        .into_iter()
        .find(|s| s.name == "ads")
        .unwrap()
        .schema;
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (_, doc) in &session.docs {
        assert!(validator.is_valid(doc), "{doc}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_nested_deeper_than_the_parser_reads_fails_the_stream_by_name() {
    let deep = format!(r#", "deep": {}{}"#, "[".repeat(300), "]".repeat(300));
    let rows = vec![ad("1", "fine", ""), ad("2", "deep", &deep)];
    let server = server_with_ads(&rows).await;
    let session = tokio::task::spawn_blocking({
        let server = server.uri();
        move || {
            let cfg = sim_config(&server, "2024-01-01", json!({}));
            flow_session(&cfg, &["ads"], &json!({}), &[])
        }
    })
    .await
    .unwrap();
    let stderr = &session.output.stderr;
    assert_ne!(session.output.code, 0, "a silent drop: {stderr}");
    assert!(
        stderr.contains("Stream \\\"ads\\\"") && stderr.contains("nested more than 128 levels"),
        "{stderr}"
    );
}

/// A TikTok whose one ad account answers every report query with `row`.
async fn server_with_report_row(row: &str) -> MockServer {
    let server = server_with_ads(&[]).await;
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(envelope(&format!(
            r#"{{"list": [{row}], "page_info": {{"page": 1, "page_size": 1000, "total_number": 1, "total_page": 1}}}}"#
        )))
        .mount(&server)
        .await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_report_metrics_take_their_type_from_the_metric_catalog() {
    let day = (chrono::Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%d");
    let row = format!(
        r#"{{"dimensions": {{"advertiser_id": "7000000000000000001", "stat_time_day": "{day} 00:00:00"}},
             "metrics": {{"spend": "3.00", "complete_payment_roas": "12.50",
                          "total_onsite_shopping_value": "40.10", "onsite_shopping": "2",
                          "currency": "USD", "complete_payment": "-"}}}}"#
    );
    let server = server_with_report_row(&row).await;
    let report = json!({"name": "funnel", "report_type": "BASIC",
        "data_level": "AUCTION_ADVERTISER", "dimensions": ["advertiser_id", "stat_time_day"],
        "metrics": ["spend", "complete_payment_roas", "total_onsite_shopping_value",
                    "onsite_shopping", "currency", "complete_payment"]});
    let cfg = sim_config(
        &server.uri(),
        &day.to_string(),
        json!({"custom_reports": [report]}),
    );
    let session = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || flow_session(&cfg, &["custom_report_funnel"], &json!({}), &[])
    })
    .await
    .unwrap();
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let (_, doc) = session
        .docs
        .first()
        .unwrap_or_else(|| panic!("no record: {stderr}"));
    // Numbers as TikTok sent them ("12.50" keeps its digits), text as text, "-" as null.
    assert_eq!(
        doc["metrics"].to_string(),
        r#"{"spend":3.00,"complete_payment_roas":12.50,"total_onsite_shopping_value":40.10,"onsite_shopping":2,"currency":"USD","complete_payment":null}"#,
    );
    assert_eq!(warnings(stderr, "where the schema declares"), 0, "{stderr}");
    // Discovery declares what the records hold.
    let parsed = source_tiktok_marketing::config::parse(&cfg).unwrap();
    let schema = source_tiktok_marketing::registry::catalog(&parsed)
        .into_iter()
        .find(|s| s.name == "custom_report_funnel")
        .unwrap()
        .schema;
    let metrics = &schema["properties"]["metrics"]["properties"];
    for name in [
        "spend",
        "complete_payment_roas",
        "total_onsite_shopping_value",
        "onsite_shopping",
        "complete_payment",
    ] {
        assert_eq!(metrics[name]["type"], json!(["number", "null"]), "{name}");
    }
    assert_eq!(metrics["currency"]["type"], json!(["string", "null"]));
    let validator = jsonschema::validator_for(&schema).unwrap();
    for (_, doc) in &session.docs {
        assert!(validator.is_valid(doc), "{doc}");
    }
}

/// The fields of real TikTok answers (Airbyte's public recording of three production ad
/// accounts; `tests/it/data/recorded_tiktok_fields.json` names the file and commit) against the
/// schemas discovery serves: typed destinations keep only what a schema declares, so every field
/// TikTok sent must be declared, with a type its recorded value fits.
#[test]
fn every_field_of_recorded_tiktok_answers_is_declared_with_a_fitting_type() {
    let recorded: Value =
        serde_json::from_str(include_str!("data/recorded_tiktok_fields.json")).unwrap();
    let cfg = sim_config("http://127.0.0.1:9", "2024-01-01", json!({}));
    let parsed = source_tiktok_marketing::config::parse(&cfg).unwrap();
    let catalog = source_tiktok_marketing::registry::catalog(&parsed);
    let schema_of = |name: &str| -> Value {
        catalog
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} is not discovered"))
            .schema
            .clone()
    };
    let declared_types = |property: &Value| -> Vec<String> {
        match &property["type"] {
            Value::String(t) => vec![t.clone()],
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut missing = Vec::new();
    let mut mistyped = Vec::new();
    let mut fields = 0;
    for (stream, recorded_fields) in recorded["entities"].as_object().unwrap() {
        let schema = schema_of(stream);
        for (field, sent) in recorded_fields.as_object().unwrap() {
            fields += 1;
            let Some(property) = schema["properties"].get(field) else {
                missing.push(format!("{stream}.{field}"));
                continue;
            };
            let declared = declared_types(property);
            let sent = sent.as_str().unwrap();
            // An integer fits a number; null fits anything (every field is nullable but keys).
            let fits = sent == "null"
                || declared.iter().any(|d| d == sent)
                || (sent == "integer" && declared.iter().any(|d| d == "number"));
            if !fits {
                mistyped.push(format!(
                    "{stream}.{field}: sent {sent}, declared {declared:?}"
                ));
            }
        }
    }
    for (stream, recorded_report) in recorded["reports"].as_object().unwrap() {
        let schema = schema_of(stream);
        for part in ["dimensions", "metrics"] {
            for field in recorded_report[part].as_array().unwrap() {
                fields += 1;
                let field = field.as_str().unwrap();
                if schema["properties"][part]["properties"]
                    .get(field)
                    .is_none()
                {
                    missing.push(format!("{stream}.{part}.{field}"));
                }
            }
        }
    }
    assert!(fields > 500, "the recording lists {fields} fields");
    assert!(missing.is_empty(), "not declared: {missing:?}");
    assert!(
        mistyped.is_empty(),
        "declared with another type: {mistyped:?}"
    );
}

/// A TikTok whose report endpoint answers 40067 (too many metrics) to any query of more than
/// `max_metrics` metrics, and otherwise one row per day of the window with each metric asked,
/// valued by its position in TikTok's answer to the full list (`metric_value`).
struct MetricLimitedReports {
    max_metrics: usize,
    /// Queries answered with rows.
    answered: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn metric_value(name: &str) -> String {
    format!("{}.25", name.len())
}

impl wiremock::Respond for MetricLimitedReports {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let param = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let metrics: Vec<String> = serde_json::from_str(&param("metrics")).unwrap();
        if metrics.len() > self.max_metrics {
            return ResponseTemplate::new(200).set_body_raw(
                r#"{"code": 40067, "message": "Your query is too large, please reduce the query size (e.g. fewer metrics or time range) and retry after a while.", "request_id": "r2", "data": {}}"#,
                "application/json",
            );
        }
        self.answered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let start = chrono::NaiveDate::parse_from_str(&param("start_date"), "%Y-%m-%d").unwrap();
        let end = chrono::NaiveDate::parse_from_str(&param("end_date"), "%Y-%m-%d").unwrap();
        let rows: Vec<Value> = start
            .iter_days()
            .take_while(|d| *d <= end)
            .map(|day| {
                let values: serde_json::Map<String, Value> = metrics
                    .iter()
                    .map(|m| (m.clone(), json!(metric_value(m))))
                    .collect();
                json!({"dimensions": {"advertiser_id": "7000000000000000001",
                                      "stat_time_day": format!("{day} 00:00:00")},
                       "metrics": values})
            })
            .collect();
        let n = rows.len();
        envelope(
            &json!({"list": rows, "page_info": {"page": 1, "page_size": 1000,
                                                "total_number": n, "total_page": 1}})
            .to_string(),
        )
    }
}

/// A query TikTok finds too large even for one day is asked as several queries of part of the
/// metrics, whose rows are joined by their dimensions: every record carries every metric, in
/// both layouts, and each day costs the parts' queries.
#[tokio::test(flavor = "multi_thread")]
async fn a_query_too_wide_for_one_day_is_split_by_metrics_and_joined() {
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - chrono::Duration::days(1);
    let metrics = [
        "spend",
        "impressions",
        "clicks",
        "conversion",
        "result",
        "complete_payment",
        "complete_payment_roas",
        "total_complete_payment_rate",
        "onsite_shopping",
        "total_onsite_shopping_value",
    ];
    for layout in ["nested", "flat"] {
        let server = server_with_ads(&[]).await;
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        Mock::given(method("GET"))
            .and(path("/open_api/v1.3/report/integrated/get/"))
            .respond_with(MetricLimitedReports {
                max_metrics: 4,
                answered: answered.clone(),
            })
            .mount(&server)
            .await;
        let report = json!({"name": "wide", "report_type": "BASIC",
            "data_level": "AUCTION_ADVERTISER", "dimensions": ["advertiser_id", "stat_time_day"],
            "metrics": metrics});
        let cfg = sim_config(
            &server.uri(),
            &yesterday.to_string(),
            json!({"custom_reports": [report], "advanced": {"record_layout": layout}}),
        );
        let session = tokio::task::spawn_blocking({
            let cfg = cfg.clone();
            move || flow_session(&cfg, &["custom_report_wide"], &json!({}), &[])
        })
        .await
        .unwrap();
        let stderr = &session.output.stderr;
        assert_eq!(session.output.code, 0, "{stderr}");
        let mut days: Vec<String> = Vec::new();
        for (_, doc) in &session.docs {
            days.push(doc["stat_time_day"].as_str().unwrap().to_string());
            for metric in metrics {
                let value = match layout {
                    "nested" => &doc["metrics"][metric],
                    _ => &doc[metric],
                };
                assert_eq!(
                    value.to_string(),
                    metric_value(metric),
                    "{layout}: {metric}: {doc}"
                );
            }
        }
        let distinct: std::collections::BTreeSet<&String> = days.iter().collect();
        assert_eq!(
            distinct.len(),
            days.len(),
            "{layout}: one record per day: {stderr}"
        );
        assert!(
            days.contains(&format!("{yesterday} 00:00:00")),
            "{layout}: {days:?}"
        );
        // The window is refused whole, then its first day alone (too many metrics, then, not
        // too many days): the ten are refused in halves of five (the first refused), then
        // read in five parts of two (half the refused width). TikTok answered two and refused
        // five, so the rest of the window is asked in parts at once, trying four parts of
        // three (answered).
        assert!(days.len() >= 2, "{days:?}");
        assert_eq!(
            answered.load(std::sync::atomic::Ordering::SeqCst),
            5 + 4,
            "{layout}: {stderr}"
        );
        assert!(stderr.contains("asking its metrics in parts"), "{stderr}");
        // The plan grows by the queries the parts add: 6 for the first day (its whole query and
        // the refused half beside the five parts), then 3 for the rest of the window.
        let logs: Vec<Value> = stderr
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let planned_at_start = logs
            .iter()
            .find(|l| l["message"] == "Planned requests.")
            .and_then(|l| l["planned_requests"].as_u64())
            .unwrap();
        let grown: Vec<u64> = logs
            .iter()
            .filter(|l| {
                l["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("the plan grows"))
            })
            .filter_map(|l| l["planned_requests"].as_u64())
            .collect();
        assert_eq!(grown.len(), 2, "{stderr}");
        assert_eq!(
            grown.iter().max().copied(),
            Some(planned_at_start + 6 + 3),
            "{stderr}"
        );
    }
}

/// Against the simulator (which refuses more than 200 metrics a query, 40067), every metric
/// group of ads_reports_daily over a 12-day window of steady days: the rows of a query in parts
/// are held until its last part is read, so once a day's parts have shown how many rows a day
/// holds, no window is asked whole that would hold more than about a million metric values
/// (`wide::VALUES_HELD`); every day still comes once.
#[tokio::test(flavor = "multi_thread")]
async fn queries_in_parts_ask_no_more_days_than_their_rows_allow_held() {
    const VALUES_HELD: u64 = 1_000_000;
    let sim = tiktok_sim::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 1,
            adgroups_per_campaign: 10,
            ads_per_adgroup: 50,
            days: 20,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    // Past the days the simulated ads begin delivering on: each day holds about as many rows.
    let first = sim.model().first_day() + chrono::Duration::days(6);
    let last = first + chrono::Duration::days(11);
    let uri = sim.base_url();
    let session = tokio::task::spawn_blocking(move || {
        let cfg = sim_config(
            &uri,
            &first.to_string(),
            json!({"end_date": last.to_string(), "advanced": {"metric_groups": ["all"]}}),
        );
        flow_session(&cfg, &["ads_reports_daily"], &json!({}), &[])
    })
    .await
    .unwrap();
    let stderr = &session.output.stderr;
    assert_eq!(session.output.code, 0, "{stderr}");
    let mut per_day: std::collections::BTreeMap<String, u64> = Default::default();
    let mut keys = std::collections::BTreeSet::new();
    for (_, doc) in &session.docs {
        *per_day
            .entry(doc["stat_time_day"].as_str().unwrap().to_string())
            .or_default() += 1;
        assert!(
            keys.insert((doc["ad_id"].to_string(), doc["stat_time_day"].to_string())),
            "a row twice: {doc}"
        );
    }
    assert_eq!(per_day.len(), 12, "{per_day:?}");
    let metrics = session.docs[0].1["metrics"].as_object().unwrap().len() as u64;
    let rows_per_day = per_day.values().max().copied().unwrap();
    let held = (VALUES_HELD / (rows_per_day * metrics)).max(1);
    // Meaningful only if the halved windows (6, 3, 2 and 1 days) hold more than that.
    assert!(held < 6, "{rows_per_day} rows a day, {metrics} metrics");
    let day = |r: &tiktok_sim::RecordedRequest, key: &str| {
        chrono::NaiveDate::parse_from_str(&r.params[key], "%Y-%m-%d").unwrap()
    };
    let answered: Vec<i64> = sim
        .requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.code == 0)
        .filter(|r| {
            r.params
                .get("dimensions")
                .is_some_and(|d| d.contains("ad_id"))
        })
        .filter(|r| r.params.get("metrics").is_some_and(|m| m.len() > 1000))
        .map(|r| (day(r, "end_date") - day(r, "start_date")).num_days() + 1)
        .collect();
    assert!(!answered.is_empty());
    assert!(
        answered.iter().all(|days| *days as u64 <= held),
        "held {held} days: {answered:?}"
    );
}
