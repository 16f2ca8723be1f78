//! Metrics TikTok refuses (code 40002 "Invalid metric fields"): a default report stream whose
//! level TikTok does not serve one of its metrics at still captures every row, the metric left
//! empty, with one warning, whether TikTok's message names the metric (one request more) or not
//! (found by asking halves of the metrics, a bounded number of probes); a metric a custom report
//! names fails the binding naming it and the fix; a 40002 that is not about metrics fails as it
//! did, and TikTok's standing refusal of hourly audience reports is met as before. Against the
//! simulated API (told to refuse metrics) through both protocols, and against a wiremock server
//! answering with TikTok's own envelope.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{json, Value};
use tiktok_sim::{
    self as simulator, catalog::Level, ApiBehaviour, DataShape, MetricRules, RefusalWording,
    RefusedMetric, SimConfig,
};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::{at, flow_in_process, logs_saying, run, sim_config, temp_json, Output};

const STREAM: &str = "campaigns_reports_daily";
/// A funnel metric the campaign streams ask by default.
const FUNNEL: &str = "complete_payment_roas";
const NOON: &str = "2024-06-30T12:00:00Z";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// One delivering account over ten days (one report window), whose campaign level refuses
/// `refused` in `wording`.
fn refusing(refused: &[&str], wording: RefusalWording) -> SimConfig {
    SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            days: 10,
            ..Default::default()
        },
        api: ApiBehaviour {
            metrics: MetricRules {
                refused: refused
                    .iter()
                    .map(|m| RefusedMetric {
                        metric: m.to_string(),
                        level: Some(Level::Campaign),
                    })
                    .collect(),
                refusal_wording: wording,
                ..Default::default()
            },
            ..ApiBehaviour::default()
        },
        ..SimConfig::default()
    }
}

/// The records of one binding by key (campaign and day).
fn by_key(docs: &[(usize, Value)], binding: usize) -> BTreeMap<String, Value> {
    docs.iter()
        .filter(|(b, _)| *b == binding)
        .map(|(_, d)| {
            (
                format!("{}/{}", d["campaign_id"], d["stat_time_day"]),
                d.clone(),
            )
        })
        .collect()
}

/// The one `Stream finished.` line of a stream.
fn finished<'a>(lines: &'a [Value], stream: &str) -> &'a Value {
    let found: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "Stream finished." && l["stream"] == stream)
        .collect();
    assert_eq!(found.len(), 1, "{lines:#?}");
    found[0]
}

/// The report requests of a run that asked one row: the probes.
fn probes(sim: &simulator::SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|r| {
            r.path == "report/integrated/get/"
                && r.params.get("page_size").map(String::as_str) == Some("1")
        })
        .count()
}

/// The same capture from a server that refuses nothing and one that refuses `refused`:
/// requests of each, records of each, and the refusing run's session.
async fn against_baseline(refused: &[&str], wording: RefusalWording, extra: Value) -> Compared {
    against_baseline_of(refusing(refused, wording), extra).await
}

/// The baseline's requests and records, the refusing simulator and its session.
type Compared = (
    u64,
    BTreeMap<String, Value>,
    simulator::SimHandle,
    crate::common::Session,
);

/// [`against_baseline`] of any simulator: the same one without refusals first.
async fn against_baseline_of(refusing: SimConfig, extra: Value) -> Compared {
    let mut config = refusing.clone();
    config.api.metrics.refused.clear();
    let baseline = simulator::spawn(config).await.unwrap();
    let cfg = sim_config(&baseline.base_url(), "2024-06-21", extra.clone());
    let first = flow_in_process(&cfg, &[STREAM], &json!({}), at(NOON)).await;
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    let requests = baseline.request_count();
    let records = by_key(&first.docs, 0);
    assert!(records.len() >= 10, "{}", records.len());

    let sim = simulator::spawn(refusing).await.unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-21", extra);
    let session = flow_in_process(&cfg, &[STREAM], &json!({}), at(NOON)).await;
    (requests, records, sim, session)
}

/// Every record of the baseline is captured, each exactly as before but without `dropped`.
fn assert_same_rows_without(
    baseline: &BTreeMap<String, Value>,
    got: &BTreeMap<String, Value>,
    dropped: &[&str],
) {
    assert_eq!(
        baseline.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (key, before) in baseline {
        let mut expected = before.clone();
        for metric in dropped {
            // Nested under `metrics`, or at the top level in the flat layout.
            let metrics = match expected.get_mut("metrics") {
                Some(metrics) => metrics.as_object_mut().unwrap(),
                None => expected.as_object_mut().unwrap(),
            };
            assert!(
                metrics.remove(*metric).is_some(),
                "the baseline has {metric}"
            );
        }
        assert_eq!(&got[key], &expected, "{key}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_default_metric_refused_by_name_is_dropped_and_every_row_captured_for_one_request() {
    let (requests, baseline, sim, session) =
        against_baseline(&[FUNNEL], RefusalWording::Named, json!({})).await;
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_rows_without(&baseline, &by_key(&session.docs, 0), &[FUNNEL]);
    // The refused query, then the same query without the metric: one request more, no probe.
    assert_eq!(sim.request_count(), requests + 1);
    assert_eq!(probes(&sim), 0);
    let refused: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.code == 40002)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    let retried = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "report/integrated/get/" && r.params["data_level"] == "AUCTION_CAMPAIGN"
        })
        .filter(|r| r.code == 0)
        .all(|r| !r.params["metrics"].contains(FUNNEL));
    assert!(retried, "no later query asks the refused metric");
    // One warning, naming the stream, the metric and what to do.
    let warnings = logs_saying(&out.stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert_eq!(warnings[0]["stream"], STREAM);
    assert_eq!(warnings[0]["metrics"], FUNNEL);
    assert_eq!(warnings[0]["data_level"], "AUCTION_CAMPAIGN");
    assert_eq!(warnings[0]["level"], "WARN");
    let text = warnings[0]["message"].as_str().unwrap();
    assert!(
        text.contains("metric_groups") && text.contains("null"),
        "{text}"
    );
    // The summaries say so.
    let lines = crate::common::log_lines(&out.stderr);
    let stream = finished(&lines, STREAM);
    assert_eq!(stream["metrics_dropped"], FUNNEL);
    assert_eq!(stream["complete"], true);
    let capture = logs_saying(&out.stderr, "Capture finished.");
    assert_eq!(
        capture[0]["metrics_dropped"],
        format!("{STREAM}: {FUNNEL}"),
        "{capture:?}"
    );
    assert_eq!(capture[0]["requests"], requests + 1);
}

/// A refused metric the reconciliation sums (an additive count) is not compared: its sums are
/// unknown at the level that lacks it, so no day is said to differ from the ledger.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_additive_metric_makes_no_day_differ_from_the_ledger() {
    let (_, baseline, _sim, session) =
        against_baseline(&["complete_payment"], RefusalWording::Named, json!({})).await;
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_rows_without(&baseline, &by_key(&session.docs, 0), &["complete_payment"]);
    assert!(
        logs_saying(&out.stderr, "do not add up").is_empty(),
        "{}",
        out.stderr
    );
    let capture = logs_saying(&out.stderr, "Capture finished.");
    assert_eq!(capture[0]["differing_account_days"], 0, "{capture:?}");
    let reconciled = capture[0]["reconciled_account_days"].as_u64();
    assert!(reconciled.is_some_and(|days| days > 0), "{capture:?}");
}

/// In the flat layout the refused metric's top-level field is absent from every record, as
/// for any row TikTok sends without a metric, and the stream's schema allows that: no metric
/// is required, and each may be null.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_metric_is_absent_from_flat_records_which_the_schema_allows() {
    let flat = json!({"advanced": {"record_layout": "flat"}});
    let (_, baseline, _sim, session) =
        against_baseline(&[FUNNEL], RefusalWording::Named, flat.clone()).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let got = by_key(&session.docs, 0);
    assert!(got
        .values()
        .all(|r| r.get("metrics").is_none() && r.get("spend").is_some()));
    assert_same_rows_without(&baseline, &got, &[FUNNEL]);
    for layout in [json!({}), flat] {
        let cfg = sim_config("http://127.0.0.1:9", "2024-06-21", layout);
        let config = source_tiktok_marketing::config::parse(&cfg).unwrap();
        let schema = source_tiktok_marketing::registry::resolve(STREAM, &config)
            .unwrap()
            .schema;
        let (properties, required) = match schema["properties"].get("metrics") {
            Some(nested) => (&nested["properties"], &nested["required"]),
            None => (&schema["properties"], &schema["required"]),
        };
        assert!(
            properties[FUNNEL]["type"]
                .as_array()
                .is_some_and(|t| t.contains(&json!("null"))),
            "{schema}"
        );
        let required = required.as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!(FUNNEL)), "{schema}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_metrics_a_message_does_not_name_are_found_by_halves_within_the_bound() {
    let refused = [FUNNEL, "real_time_result"];
    let (requests, baseline, sim, session) =
        against_baseline(&refused, RefusalWording::Unnamed, json!({})).await;
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_rows_without(&baseline, &by_key(&session.docs, 0), &refused);
    let warnings = logs_saying(&out.stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    // In the stream's request order.
    assert_eq!(
        warnings[0]["metrics"],
        "real_time_result, complete_payment_roas"
    );
    // Probes: the dimensions alone, then halves; bounded by 2 k log2(n) + 2 for k refused of
    // n metrics, and by the metrics asked.
    let asked = baseline.values().next().unwrap()["metrics"]
        .as_object()
        .unwrap()
        .len();
    let found_by = probes(&sim) as u64;
    assert_eq!(warnings[0]["found_by_probes"], found_by);
    let bound = 2 * 2 * (asked as f64).log2().ceil() as u64 + 2;
    assert!(
        found_by <= bound.min(asked as u64),
        "{found_by} probes, bound {bound}"
    );
    assert!(found_by >= 3, "{found_by}");
    // Every request: the normal ones, the refused one and the probes.
    assert_eq!(sim.request_count(), requests + 1 + found_by);
    let lines = crate::common::log_lines(&out.stderr);
    let stream = finished(&lines, STREAM);
    assert_eq!(
        stream["metrics_dropped"],
        "real_time_result, complete_payment_roas"
    );
}

/// Ad accounts whose queries TikTok refuses at once: one of their units finds the metric while
/// the others wait for its answer, so the probes are those of one refusal and one warning is
/// logged; every account's rows are captured.
#[tokio::test(flavor = "multi_thread")]
async fn refusals_of_several_accounts_at_once_are_found_once() {
    let mut config = refusing(&[FUNNEL], RefusalWording::Unnamed);
    config.data.advertisers = 4;
    let (requests, baseline, sim, session) = against_baseline_of(config, json!({})).await;
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_same_rows_without(&baseline, &by_key(&session.docs, 0), &[FUNNEL]);
    let warnings = logs_saying(&out.stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    let found_by = warnings[0]["found_by_probes"].as_u64().unwrap();
    assert_eq!(probes(&sim) as u64, found_by, "only one unit probed");
    assert!(found_by <= 2 * 6 + 2, "{found_by}");
    // Each account's first query may have gone out before the metric was found.
    let refused = sim
        .requests()
        .iter()
        .filter(|r| r.code == 40002 && r.params["page_size"] != "1")
        .count() as u64;
    assert!((1..=4).contains(&refused), "{refused}");
    assert_eq!(sim.request_count(), requests + refused + found_by);
}

#[tokio::test(flavor = "multi_thread")]
async fn airbyte_read_drops_a_refused_metric_the_message_does_not_name() {
    // The binary, through the Airbyte protocol, on the real clock.
    let mut config = refusing(&[FUNNEL], RefusalWording::Unnamed);
    config.today = chrono::Utc::now().date_naive();
    let sim = simulator::spawn(config).await.unwrap();
    let start = sim.model().first_day();
    let cfg = sim_config(&sim.base_url(), &start.to_string(), json!({}));
    let out = read_binary(&cfg, &[STREAM]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records: Vec<&Value> = out.record_data();
    let campaigns = sim
        .model()
        .entities(
            tiktok_sim::EntityKind::Campaign,
            sim.model().advertiser_ids()[0],
            true,
        )
        .len();
    assert!(records.len() >= campaigns, "{} records", records.len());
    for record in &records {
        assert!(record["metrics"].get(FUNNEL).is_none(), "{record}");
        assert!(record["metrics"].get("spend").is_some(), "{record}");
    }
    let status: Vec<&Value> = out
        .stdout
        .iter()
        .filter(|m| m["trace"]["type"] == "STREAM_STATUS")
        .map(|m| &m["trace"]["stream_status"]["status"])
        .collect();
    assert_eq!(status.last().copied(), Some(&json!("COMPLETE")));
    // The warning reaches Airbyte's log messages too.
    let logged = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "LOG")
        .filter(|m| {
            m["log"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("TikTok refuses these metrics")
        })
        .count();
    assert_eq!(logged, 1, "{}", out.stdout_text);
    let warnings = logs_saying(&out.stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    // Found by probes of one row: at most 2 log2(n) + 2 for one refused metric of n = 55.
    let found_by = warnings[0]["found_by_probes"].as_u64().unwrap();
    assert_eq!(found_by as usize, probes(&sim));
    assert!((2..=2 * 6 + 2).contains(&found_by), "{found_by}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_metric_a_custom_report_names_fails_the_binding_naming_it_and_the_fix() {
    for wording in [RefusalWording::Named, RefusalWording::Unnamed] {
        let sim = simulator::spawn(refusing(&[FUNNEL], wording))
            .await
            .unwrap();
        let cfg = sim_config(
            &sim.base_url(),
            "2024-06-21",
            json!({"custom_reports": [{"name": "funnel", "report_type": "BASIC",
                "data_level": "AUCTION_CAMPAIGN", "dimensions": ["campaign_id", "stat_time_day"],
                "metrics": ["spend", FUNNEL]}]}),
        );
        let session = flow_in_process(
            &cfg,
            &["custom_report_funnel", "campaigns"],
            &json!({}),
            at(NOON),
        )
        .await;
        let out = &session.output;
        assert_ne!(out.code, 0, "{wording:?}");
        let error = out.last_log_message();
        for part in [
            FUNNEL,
            "custom_report_funnel",
            "custom_reports[0].metrics",
            "remove",
        ] {
            assert!(error.contains(part), "{wording:?}: {part} not in {error}");
        }
        assert!(logs_saying(&out.stderr, "TikTok refuses these metrics").is_empty());
        // The other binding finished.
        let campaigns = session.docs.iter().filter(|(b, _)| *b == 1).count();
        assert!(campaigns > 0, "{}", out.stderr);
        // Nothing of the custom report was dropped: no query went out without the metric.
        let without = sim
            .requests()
            .into_iter()
            .filter(|r| {
                r.path == "report/integrated/get/" && r.params["data_level"] == "AUCTION_CAMPAIGN"
            })
            .filter(|r| r.params.get("page_size").map(String::as_str) == Some("1000"))
            .any(|r| !r.params["metrics"].contains(FUNNEL));
        assert!(!without, "{wording:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_that_is_not_about_metrics_fails_as_before_after_one_probe() {
    // Every report query answers 40002 "Parameter error.", whatever its metrics.
    let mut config = refusing(&[], RefusalWording::Named);
    config.faults.rules.push(tiktok_sim::FaultRule {
        fault: tiktok_sim::Fault::Code(40002),
        every: 1,
        paths: Some(vec!["report/integrated/get/".into()]),
    });
    let sim = simulator::spawn(config).await.unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-21", json!({}));
    let session = flow_in_process(&cfg, &[STREAM], &json!({}), at(NOON)).await;
    let out = &session.output;
    assert_ne!(out.code, 0);
    let error = out.last_log_message();
    assert!(error.contains("code 40002: Parameter error"), "{error}");
    assert!(!error.contains("custom"), "{error}");
    assert!(logs_saying(&out.stderr, "TikTok refuses these metrics").is_empty());
    // The stream's refused query, then the dimensions alone: refused too, so no halving.
    let dimensions_alone: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.params.get("page_size").map(String::as_str) == Some("1"))
        .filter(|r| r.params.get("data_level").map(String::as_str) == Some("AUCTION_CAMPAIGN"))
        .collect();
    assert_eq!(dimensions_alone.len(), 1, "{dimensions_alone:?}");
    assert!(!dimensions_alone[0].params.contains_key("metrics"));
}

#[tokio::test(flavor = "multi_thread")]
async fn hourly_audience_refusals_are_met_as_before_without_a_probe() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            advertisers: 2,
            days: 2,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-30", json!({}));
    let stream = "campaigns_audience_reports_by_country_hourly";
    let session = flow_in_process(&cfg, &[stream], &json!({}), at(NOON)).await;
    let out = &session.output;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(session.docs.is_empty());
    assert_eq!(
        logs_saying(&out.stderr, "refuses audience reports by hour").len(),
        1
    );
    assert!(logs_saying(&out.stderr, "TikTok refuses these metrics").is_empty());
    assert_eq!(probes(&sim), 0, "no probe of a standing refusal");
}

// ---------------------------------------------------------------------------------------------
// A server of our own: wiremock with TikTok's envelope
// ---------------------------------------------------------------------------------------------

const ADVERTISER: u64 = 7_000_000_000_000_000_042;
const CAMPAIGN: &str = "1800000000000000001";

fn api(p: &str) -> String {
    format!("/open_api/v1.3/{p}")
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "code": 0, "message": "OK", "request_id": "202406301200000000000000000001", "data": data}))
}

fn page(rows: Vec<Value>) -> ResponseTemplate {
    let n = rows.len();
    ok(json!({"list": rows, "page_info":
        {"page": 1, "page_size": 1000, "total_number": n, "total_page": 1}}))
}

/// TikTok's report endpoint as a server that refuses `complete_payment_roas` at campaign level
/// in TikTok's words and envelope, and answers every other query with one row a day of every
/// metric asked.
fn report_answer(req: &Request) -> ResponseTemplate {
    let params: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    let metrics: Vec<String> = params
        .get("metrics")
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| vec!["spend".into(), "impressions".into()]);
    let campaign_level = params.get("data_level").map(String::as_str) == Some("AUCTION_CAMPAIGN");
    if campaign_level && metrics.iter().any(|m| m == FUNNEL) {
        return ResponseTemplate::new(200).set_body_json(json!({
            "code": 40002,
            "message": format!("Invalid metric fields: ['{FUNNEL}']"),
            "request_id": "202406301200000000000000000002",
            "data": {}}));
    }
    let (Some(start), Some(end)) = (params.get("start_date"), params.get("end_date")) else {
        return page(vec![]);
    };
    let (start, end) = (day(start), day(end));
    let mut rows = Vec::new();
    for d in start.iter_days().take_while(|d| *d <= end) {
        let time = format!("{d} 00:00:00");
        let values: serde_json::Map<String, Value> =
            metrics.iter().map(|m| (m.clone(), json!("1.00"))).collect();
        let dimensions = if campaign_level {
            json!({"campaign_id": CAMPAIGN, "stat_time_day": time})
        } else {
            json!({"advertiser_id": ADVERTISER.to_string(), "stat_time_day": time})
        };
        rows.push(json!({"dimensions": dimensions, "metrics": values}));
    }
    page(rows)
}

async fn read_binary(config: &Value, streams: &[&str]) -> Output {
    let config = config.clone();
    let streams: Vec<String> = streams.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().unwrap();
        let catalog = json!({"streams": streams.iter().map(|s| json!({
            "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
            "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()});
        let c = temp_json(&dir, "config.json", &config);
        let k = temp_json(&dir, "catalog.json", &catalog);
        run(&["read", "--config", &c, "--catalog", &k], "", &[])
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_answering_in_tiktoks_envelope_has_the_metric_it_names_dropped() {
    let server = MockServer::start().await;
    Mock::given(path(api("advertiser/info/")))
        .respond_with(ok(json!({"list": [{"advertiser_id": ADVERTISER,
            "name": "Acme", "timezone": "Etc/GMT", "create_time": 1704067200}]})))
        .mount(&server)
        .await;
    Mock::given(path(api("report/integrated/get/")))
        .respond_with(report_answer)
        .mount(&server)
        .await;
    for endpoint in ["ad/get/", "campaign/get/"] {
        Mock::given(path(api(endpoint)))
            .respond_with(page(vec![]))
            .mount(&server)
            .await;
    }
    Mock::given(any())
        .respond_with(|req: &Request| {
            ResponseTemplate::new(404).set_body_string(format!("no mock for {}", req.url.path()))
        })
        .with_priority(u8::MAX)
        .mount(&server)
        .await;
    let cfg = json!({
        "credentials": {"auth_type": "oauth2.0", "client_id": "app", "client_secret": "secret",
                        "access_token": "token"},
        "start_date": "2024-01-01", "end_date": "2024-01-05",
        "advanced": {"base_url": server.uri(), "requests_per_second": 100,
                     "advertiser_ids": [ADVERTISER.to_string()]},
    });
    let out = read_binary(&cfg, &[STREAM]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records: Vec<&Value> = out.record_data();
    let days: Vec<&str> = records
        .iter()
        .map(|r| r["stat_time_day"].as_str().unwrap())
        .collect();
    assert_eq!(
        days,
        [
            "2024-01-01 00:00:00",
            "2024-01-02 00:00:00",
            "2024-01-03 00:00:00",
            "2024-01-04 00:00:00",
            "2024-01-05 00:00:00"
        ],
        "{}",
        out.stderr
    );
    for record in &records {
        assert!(record["metrics"].get(FUNNEL).is_none(), "{record}");
        assert_eq!(record["metrics"]["spend"].to_string(), "1.00", "{record}");
    }
    let warnings = logs_saying(&out.stderr, "TikTok refuses these metrics");
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert_eq!(warnings[0]["metrics"], FUNNEL);
    assert_eq!(warnings[0]["found_by_probes"], 0);
    let campaign_queries: Vec<BTreeMap<String, String>> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == api("report/integrated/get/"))
        .map(|r| r.url.query_pairs().into_owned().collect::<BTreeMap<_, _>>())
        .filter(|p| p.get("data_level").map(String::as_str) == Some("AUCTION_CAMPAIGN"))
        .collect();
    // The refused query and the same one without the metric.
    assert_eq!(campaign_queries.len(), 2, "{campaign_queries:#?}");
    assert!(campaign_queries[0]["metrics"].contains(FUNNEL));
    assert!(!campaign_queries[1]["metrics"].contains(FUNNEL));
    let mut asked: Vec<String> = serde_json::from_str(&campaign_queries[0]["metrics"]).unwrap();
    asked.retain(|m| m != FUNNEL);
    let again: Vec<String> = serde_json::from_str(&campaign_queries[1]["metrics"]).unwrap();
    assert_eq!(
        again, asked,
        "the same metrics but the refused one, in order"
    );
    for key in [
        "start_date",
        "end_date",
        "dimensions",
        "filtering",
        "report_type",
    ] {
        assert_eq!(
            campaign_queries[0].get(key),
            campaign_queries[1].get(key),
            "{key}"
        );
    }
}
