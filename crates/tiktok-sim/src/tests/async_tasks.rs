//! HTTP-level tests of the asynchronous report tasks: TikTok's refusals (each rule of
//! [`rules::ASYNC_RULES`] that refuses), the status sequence, and the CSV file checked cell for
//! cell against the synchronous JSON rows of the same query.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use super::{cfg, json_of, s, Client};
use crate::catalog::Level;
use crate::server::{
    REPORT_PATH as SYNC, TASK_CHECK_PATH as CHECK, TASK_CREATE_PATH as CREATE,
    TASK_DOWNLOAD_PATH as DOWNLOAD,
};
use crate::{
    rules, spawn, ApiBehaviour, AsyncReports, DataShape, EntityKind, SimConfig, SimHandle,
    ADS_THROTTLE_HEADER,
};

fn allowlisted() -> SimConfig {
    SimConfig {
        async_reports: AsyncReports {
            allowlisted: true,
            ..cfg().async_reports
        },
        ..cfg()
    }
}

/// A server of `cfg`, a client of it, and its first advertiser.
async fn served(cfg: SimConfig) -> (SimHandle, Client, u64) {
    let sim = spawn(cfg).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    (sim, c, adv)
}

/// The JSON body of a BASIC task (`output_format` and title translation left to their
/// defaults).
fn task(adv: u64, level: Level, dims: &[&str], metrics: &[&str], days: (&str, &str)) -> Value {
    json!({
        "advertiser_id": adv.to_string(),
        "service_type": "AUCTION",
        "report_type": "BASIC",
        "data_level": level.data_level(),
        "dimensions": dims,
        "metrics": metrics,
        "start_date": days.0,
        "end_date": days.1,
    })
}

/// The same query as `report/integrated/get/` parameters: strings as they are, JSON values as
/// JSON text.
fn sync_params(body: &Value) -> Vec<(String, String)> {
    body.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            (k.clone(), text)
        })
        .collect()
}

fn borrowed(params: &[(String, String)]) -> Vec<(&str, String)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect()
}

/// Every row the synchronous endpoint answers for the query of `body` (pages of 1000).
async fn sync_rows(c: &Client, body: &Value) -> Vec<Value> {
    c.all_pages(SYNC, &borrowed(&sync_params(body)), 1000).await
}

/// The one page of a synchronous query, with whether it carried the ads throttle header.
async fn sync_page(c: &Client, body: &Value) -> (Vec<Value>, bool) {
    let mut p = sync_params(body);
    p.push(("page_size".into(), "1000".into()));
    let resp = c.raw(SYNC, &borrowed(&p), Some("sim-token")).await.unwrap();
    let throttled = resp.headers().contains_key(ADS_THROTTLE_HEADER);
    let answer = json_of(resp).await;
    assert_eq!(answer["code"], 0, "{answer}");
    assert_eq!(answer["data"]["page_info"]["total_page"], 1, "one page");
    (
        answer["data"]["list"].as_array().unwrap().clone(),
        throttled,
    )
}

async fn create(c: &Client, body: &Value) -> Value {
    let resp = c.post(CREATE, body.to_string(), Some("sim-token")).await;
    assert_eq!(resp.status(), 200);
    json_of(resp).await
}

/// The task id of a created task.
async fn created(c: &Client, body: &Value) -> String {
    let answer = create(c, body).await;
    assert_eq!(answer["code"], 0, "{answer}");
    answer["data"]["task_id"].as_str().unwrap().to_string()
}

async fn check(c: &Client, adv: u64, task_id: &str) -> Value {
    c.get(CHECK, &[("advertiser_id", s(adv)), ("task_id", s(task_id))])
        .await
}

async fn download(c: &Client, adv: u64, task_id: &str) -> reqwest::Response {
    c.raw(
        DOWNLOAD,
        &[("advertiser_id", s(adv)), ("task_id", s(task_id))],
        Some("sim-token"),
    )
    .await
    .unwrap()
}

/// Creates a task, checks it until it says SUCCESS, and downloads it: the CSV file.
async fn run_task(c: &Client, body: &Value) -> String {
    let adv: u64 = body["advertiser_id"].as_str().unwrap().parse().unwrap();
    let id = created(c, body).await;
    let mut statuses = Vec::new();
    while statuses.last() != Some(&"SUCCESS".to_string()) {
        let answer = check(c, adv, &id).await;
        assert_eq!(answer["code"], 0, "{answer}");
        statuses.push(answer["data"]["status"].as_str().unwrap().to_string());
        assert!(statuses.len() <= 10, "{statuses:?}");
    }
    let resp = download(c, adv, &id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert!(
        !resp.headers().contains_key(ADS_THROTTLE_HEADER),
        "asynchronous reports have no ads cap"
    );
    resp.text().await.unwrap()
}

/// The header and the records of a CSV file.
fn parse_csv(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let records = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    (header, records)
}

/// The text a JSON cell has in the CSV file: a string unquoted, a number as its JSON text, null
/// as nothing.
fn cell(v: &Value) -> String {
    match v {
        Value::String(t) => t.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => String::new(),
        other => panic!("not a report cell: {other}"),
    }
}

/// Synchronous JSON rows as CSV records: the dimensions, then the metrics, in request order.
fn records_of(rows: &[Value], body: &Value) -> Vec<Vec<String>> {
    let names = |key: &str| -> Vec<String> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let (dims, metrics) = (names("dimensions"), names("metrics"));
    rows.iter()
        .map(|r| {
            dims.iter()
                .map(|d| cell(&r["dimensions"][d.as_str()]))
                .chain(metrics.iter().map(|m| cell(&r["metrics"][m.as_str()])))
                .collect()
        })
        .collect()
}

/// The pause between two creates of one app (TikTok: 1 QPS per app).
async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1050)).await;
}

/// An app outside the allowlist: create answers 40001 (after the token check), and check and
/// download know no task. The Reporting scope and the method apply as to every endpoint.
#[tokio::test]
async fn an_app_outside_the_allowlist_cannot_create_tasks() {
    let (sim, c, adv) = served(cfg()).await;
    let body = task(
        adv,
        Level::Campaign,
        &["campaign_id", "stat_time_day"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    let no_token = json_of(c.post(CREATE, body.to_string(), None).await).await;
    assert_eq!(no_token["code"], 40104);
    let answer = create(&c, &body).await;
    assert_eq!(answer["code"], 40001, "{answer}");
    let rule = rules::async_rule("async_allowlist_only").unwrap();
    assert_eq!(
        rule.code,
        Some(40001),
        "the rule table says what create answers"
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("allowlist") && message.contains("Allowlist Management"),
        "{message}"
    );
    for path in [CHECK, DOWNLOAD] {
        let body = c
            .get(path, &[("advertiser_id", s(adv)), ("task_id", s("123"))])
            .await;
        assert_eq!(body["code"], 40002, "{path}: {body}");
    }
    // A GET to create, a POST to a GET endpoint: HTTP 405.
    let get = c.raw(CREATE, &[], Some("sim-token")).await.unwrap();
    assert_eq!(get.status(), 405);
    let post_list = c
        .post("campaign/get/", "{}".into(), Some("sim-token"))
        .await;
    assert_eq!(post_list.status(), 405);
    let codes: Vec<i64> = sim.requests().iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![40104, 40001, 40002, 40002, 405, 405]);
    sim.shutdown().await;

    // The Reporting scope covers the three paths.
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            missing_scopes: vec!["Reporting".into()],
            ..allowlisted().api
        },
        ..allowlisted()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let answer = create(&c, &body).await;
    assert_eq!(answer["code"], 40001);
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("\"Reporting\""));
    let answer = check(&c, adv, "123").await;
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("\"Reporting\""));
    sim.shutdown().await;
}

/// In async mode only `campaign_ids`, `adgroup_ids` and `ad_ids` filter: a status or buying
/// type filter is refused at create, naming the field; an id filter is accepted.
#[tokio::test]
async fn only_id_filters_are_accepted() {
    let (sim, c, adv) = served(allowlisted()).await;
    let mut body = task(
        adv,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    let rule = rules::async_rule("async_only_id_filters").unwrap();
    for (field, value) in [
        ("ad_status", "[\"STATUS_ALL\"]"),
        ("buying_type", "[\"RESERVATION_TOP_VIEW\"]"),
    ] {
        body["filtering"] =
            json!([{"field_name": field, "filter_type": "IN", "filter_value": value}]);
        let answer = create(&c, &body).await;
        assert_eq!(answer["code"], 40002, "{field}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let campaign = sim.model().entities(EntityKind::Campaign, adv, false)[0]["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        rule.code,
        Some(40002),
        "the rule table says what create answers"
    );
    body["filtering"] = json!([{"field_name": "campaign_ids", "filter_type": "IN",
                                "filter_value": json!([campaign]).to_string()}]);
    assert_eq!(create(&c, &body).await["code"], 0);
    sim.shutdown().await;
}

/// Multi-account tasks are not modelled: refused with 40002 saying so.
#[tokio::test]
async fn multi_account_tasks_are_refused() {
    let sim = spawn(allowlisted()).await.unwrap();
    let c = Client::new(&sim);
    let ids = sim.model().advertiser_ids();
    let mut body = task(
        ids[0],
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    body["advertiser_ids"] = json!([ids[0].to_string(), ids[1].to_string()]);
    let answer = create(&c, &body).await;
    assert_eq!(answer["code"], 40002);
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with("advertiser_ids") && message.contains("multi-account"),
        "{message}"
    );
    sim.shutdown().await;
}

/// A task is validated like a synchronous query (metrics, lifetime, the sandbox's refusal of
/// advertiser level), and the formats the simulator does not model, a body that is not JSON,
/// are refused at create.
#[tokio::test]
async fn tasks_are_validated_like_sync_reports() {
    let (sim, c, adv) = served(allowlisted()).await;
    let good = task(
        adv,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    let mut bad_metric = good.clone();
    bad_metric["metrics"] = json!(["spend", "nope"]);
    let answer = create(&c, &bad_metric).await;
    assert_eq!(answer["code"], 40002);
    assert!(answer["message"]
        .as_str()
        .unwrap()
        .contains("Invalid metric fields"));
    let mut lifetime = task(
        adv,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend"],
        ("", ""),
    );
    lifetime.as_object_mut().unwrap().remove("start_date");
    lifetime.as_object_mut().unwrap().remove("end_date");
    lifetime["query_lifetime"] = json!(true);
    let rule = rules::REPORT_RULES
        .iter()
        .find(|r| r.name == "lifetime_without_time_or_country")
        .unwrap();
    let answer = create(&c, &lifetime).await;
    assert_eq!(answer["message"], rule.message, "{answer}");
    for format in ["CSV_DOWNLOAD", "XLSX_DOWNLOAD", "PDF"] {
        let mut body = good.clone();
        body["output_format"] = json!(format);
        let answer = create(&c, &body).await;
        assert_eq!(answer["code"], 40002, "{format}");
        assert!(answer["message"].as_str().unwrap().contains(format));
    }
    let answer = json_of(
        c.post(CREATE, "dimensions=x".into(), Some("sim-token"))
            .await,
    )
    .await;
    assert_eq!(answer["code"], 40002);
    let mut explicit = good.clone();
    explicit["output_format"] = json!("CSV_STRING");
    explicit["enable_report_title_translation"] = json!(false);
    explicit["file_name"] = json!("my report");
    assert_eq!(create(&c, &explicit).await["code"], 0);
    // The request log holds the body's fields as parameters.
    let log = sim.requests();
    let last = log.last().unwrap();
    assert_eq!(last.path, CREATE);
    assert_eq!(last.params["advertiser_id"], adv.to_string());
    assert_eq!(last.params["dimensions"], r#"["ad_id","stat_time_day"]"#);
    assert_eq!(last.params["enable_report_title_translation"], "false");
    assert_eq!(last.params["output_format"], "CSV_STRING");
    sim.shutdown().await;

    let (sim, c, adv) = served(SimConfig {
        api: ApiBehaviour {
            sandbox: true,
            ..allowlisted().api
        },
        ..allowlisted()
    })
    .await;
    let body = task(
        adv,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    assert_eq!(create(&c, &body).await["code"], 40009);
    sim.shutdown().await;
}

/// Unknown task ids, and tasks of another advertiser, are refused naming the task.
#[tokio::test]
async fn unknown_tasks_are_refused() {
    let sim = spawn(allowlisted()).await.unwrap();
    let c = Client::new(&sim);
    let ids = sim.model().advertiser_ids();
    let id = created(
        &c,
        &task(
            ids[0],
            Level::Campaign,
            &["campaign_id"],
            &["spend"],
            ("2024-06-01", "2024-06-30"),
        ),
    )
    .await;
    let rule = rules::async_rule("async_known_task").unwrap();
    for (adv, task_id) in [(ids[0], "7000"), (ids[1], id.as_str())] {
        for path in [CHECK, DOWNLOAD] {
            let answer = c
                .get(path, &[("advertiser_id", s(adv)), ("task_id", s(task_id))])
                .await;
            assert_eq!(answer["code"], 40002, "{path}: {answer}");
            assert!(
                answer["message"].as_str().unwrap().contains(task_id),
                "{answer}"
            );
        }
    }
    assert_eq!(
        rule.code,
        Some(40002),
        "the rule table says what they answer"
    );
    let missing = c.get(CHECK, &[("advertiser_id", s(ids[0]))]).await;
    assert_eq!(missing["code"], 40002);
    assert_eq!(
        check(&c, ids[0], &id).await["code"],
        0,
        "its own advertiser"
    );
    sim.shutdown().await;
}

/// QUEUING at the first check, PROCESSING until the `async_task_checks`th, then SUCCESS; the
/// download is refused before.
#[tokio::test]
async fn a_task_queues_processes_then_succeeds_and_downloads_only_then() {
    let (sim, c, adv) = served(SimConfig {
        async_reports: AsyncReports {
            task_checks: 3,
            ..allowlisted().async_reports
        },
        ..allowlisted()
    })
    .await;
    let id = created(
        &c,
        &task(
            adv,
            Level::Campaign,
            &["campaign_id", "stat_time_day"],
            &["spend"],
            ("2024-06-01", "2024-06-30"),
        ),
    )
    .await;
    assert!(id.chars().all(|ch| ch.is_ascii_digit()), "{id}");
    let rule = rules::async_rule("async_download_after_success").unwrap();
    let early = json_of(download(&c, adv, &id).await).await;
    assert_eq!(early["code"], 40002, "{early}");
    assert_eq!(
        rule.code,
        Some(40002),
        "the rule table says what download answers"
    );
    assert!(
        early["message"].as_str().unwrap().contains("not finished"),
        "{early}"
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let answer = check(&c, adv, &id).await;
        assert_eq!(answer["code"], 0);
        assert!(answer["data"].get("message").is_none(), "{answer}");
        statuses.push(answer["data"]["status"].as_str().unwrap().to_string());
        if statuses.len() == 2 {
            let answer = json_of(download(&c, adv, &id).await).await;
            assert_eq!(answer["code"], 40002, "still PROCESSING: {answer}");
        }
    }
    assert_eq!(statuses, ["QUEUING", "PROCESSING", "SUCCESS", "SUCCESS"]);
    let resp = download(&c, adv, &id).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    let (header, records) = parse_csv(&resp.text().await.unwrap());
    assert_eq!(header, ["Campaign ID", "Date", "Cost"]);
    assert!(!records.is_empty());
    let download_log = sim.requests().pop().unwrap();
    assert_eq!(
        (download_log.path.as_str(), download_log.code),
        (DOWNLOAD, 0)
    );
    sim.shutdown().await;
}

/// A failing task finishes FAILED with a message, and cannot be downloaded.
#[tokio::test]
async fn a_failed_task_says_why_and_cannot_be_downloaded() {
    let (sim, c, adv) = served(SimConfig {
        async_reports: AsyncReports {
            task_fails: true,
            ..allowlisted().async_reports
        },
        ..allowlisted()
    })
    .await;
    let id = created(
        &c,
        &task(
            adv,
            Level::Ad,
            &["ad_id"],
            &["spend"],
            ("2024-06-01", "2024-06-30"),
        ),
    )
    .await;
    assert_eq!(check(&c, adv, &id).await["data"]["status"], "QUEUING");
    let failed = check(&c, adv, &id).await;
    assert_eq!(failed["data"]["status"], "FAILED", "{failed}");
    assert!(!failed["data"]["message"].as_str().unwrap().is_empty());
    let answer = json_of(download(&c, adv, &id).await).await;
    assert_eq!(answer["code"], 40002);
    assert!(
        answer["message"].as_str().unwrap().contains("failed"),
        "{answer}"
    );
    sim.shutdown().await;
}

/// TikTok's 1 QPS per app: a create within a second of the previous task answers 40100; the
/// same create a second later is served. Refused creates do not count.
#[tokio::test]
async fn a_second_create_within_a_second_is_too_frequent() {
    let (sim, c, adv) = served(allowlisted()).await;
    let body = task(
        adv,
        Level::Campaign,
        &["campaign_id"],
        &["spend"],
        ("2024-06-01", "2024-06-30"),
    );
    let first = created(&c, &body).await;
    let answer = create(&c, &body).await;
    assert_eq!(answer["code"], 40100, "{answer}");
    let rule = rules::async_rule("async_one_create_per_second").unwrap();
    assert_eq!(
        rule.code,
        Some(40100),
        "the rule table says what create answers"
    );
    assert!(answer["message"].as_str().unwrap().contains("QPS"));
    next_second().await;
    let second = created(&c, &body).await;
    assert_ne!(first, second, "task ids are unique");
    sim.shutdown().await;
}

/// "Querying UV metrics with audience dimensions is not supported in asynchronous reports."
/// (Create an asynchronous report task): create refuses such a task with 40002 (the
/// simulator's choice) naming the metric and the dimension, while the synchronous endpoint
/// serves the same query; the task without the audience dimension is accepted.
#[tokio::test]
async fn uv_metrics_with_audience_dimensions_are_refused() {
    let (sim, c, adv) = served(allowlisted()).await;
    let mut by_country = task(
        adv,
        Level::Campaign,
        &["campaign_id", "stat_time_day", "country_code"],
        &["spend", "reach"],
        ("2024-06-01", "2024-06-30"),
    );
    let sync = c.get(SYNC, &borrowed(&sync_params(&by_country))).await;
    assert_eq!(
        sync["code"], 0,
        "the synchronous endpoint serves it: {sync}"
    );
    let answer = create(&c, &by_country).await;
    assert_eq!(answer["code"], 40002, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("reach") && message.contains("country_code"),
        "{message}"
    );
    let mut audience = by_country.clone();
    audience["report_type"] = json!("AUDIENCE");
    audience["dimensions"] = json!(["campaign_id", "stat_time_day", "gender"]);
    audience["metrics"] = json!(["frequency"]);
    let answer = create(&c, &audience).await;
    assert_eq!(answer["code"], 40002, "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("frequency") && message.contains("gender"),
        "{message}"
    );
    // Refused creates cost nothing: the task without the audience dimension is created at once.
    by_country["dimensions"] = json!(["campaign_id", "stat_time_day"]);
    assert_eq!(create(&c, &by_country).await["code"], 0);
    let rule = rules::async_rule("async_no_uv_metrics_by_audience").unwrap();
    assert_eq!(
        rule.code,
        Some(40002),
        "the rule table says what create answers"
    );
    sim.shutdown().await;
}

/// TikTok's known issue: asynchronous reports return `country_code` (US) as the country's name
/// (United States). The CSV cells of the column hold names where the synchronous JSON rows of
/// the same query hold codes; every other cell is the same.
#[tokio::test]
async fn the_csv_names_the_countries_the_json_codes() {
    let (sim, c, adv) = served(allowlisted()).await;
    let body = task(
        adv,
        Level::Campaign,
        &["campaign_id", "stat_time_day", "country_code"],
        &["spend", "impressions"],
        ("2024-06-01", "2024-06-30"),
    );
    let rows = sync_rows(&c, &body).await;
    let expected = records_of(&rows, &body);
    let (header, records) = parse_csv(&run_task(&c, &body).await);
    assert_eq!(header[2], "Country Code");
    assert_eq!(records.len(), expected.len());
    let names: BTreeMap<&str, &str> = [
        ("US", "United States"),
        ("GB", "United Kingdom"),
        ("DE", "Germany"),
        ("FR", "France"),
        ("JP", "Japan"),
        ("BR", "Brazil"),
        ("", ""),
    ]
    .into_iter()
    .collect();
    let mut named = BTreeSet::new();
    for (csv, json) in records.iter().zip(&expected) {
        let code = json[2].as_str();
        assert_eq!(
            csv[2],
            *names.get(code).unwrap_or_else(|| panic!("{code:?}"))
        );
        assert_eq!((&csv[..2], &csv[3..]), (&json[..2], &json[3..]));
        named.insert(csv[2].clone());
    }
    assert!(named.len() >= 3, "several countries: {named:?}");
    assert!(
        named.iter().all(|n| n.len() > 2),
        "names, not codes: {named:?}"
    );
    sim.shutdown().await;
}

/// For an account under the ads cap the CSV file holds exactly the synchronous answer: the same
/// rows in the same order, each cell the text of the JSON cell (strings, JSON numbers of the
/// engagement metrics, names), at advertiser and at ad level.
#[tokio::test]
async fn the_csv_holds_the_sync_rows_cell_for_cell() {
    let (sim, c, adv) = served(allowlisted()).await;
    let bodies = [
        task(
            adv,
            Level::Advertiser,
            &["advertiser_id", "stat_time_day"],
            &[
                "spend",
                "impressions",
                "clicks",
                "ctr",
                "video_play_actions",
            ],
            ("2024-06-01", "2024-06-30"),
        ),
        task(
            adv,
            Level::Ad,
            &["stat_time_day", "ad_id"],
            &["campaign_name", "spend", "impressions", "likes", "cpc"],
            ("2024-06-01", "2024-06-30"),
        ),
    ];
    for (i, body) in bodies.iter().enumerate() {
        if i > 0 {
            next_second().await;
        }
        let rows = sync_rows(&c, body).await;
        if i == 0 {
            // The advertiser's totals: a row per day on which one of its ads delivers.
            let june = |d| chrono::NaiveDate::from_ymd_opt(2024, 6, d).unwrap();
            let days = (1..=30)
                .filter(|&d| sim.model().advertiser_delivers_on(adv, june(d)))
                .count();
            assert_eq!(rows.len(), days);
            assert!(days >= 20, "{days}");
        } else {
            assert!(rows.len() >= 25, "{}", rows.len());
        }
        assert!(
            rows.iter().any(|r| r["metrics"]
                .as_object()
                .unwrap()
                .values()
                .any(Value::is_number)),
            "some cells are JSON numbers"
        );
        let (_, records) = parse_csv(&run_task(&c, body).await);
        assert_eq!(records, records_of(&rows, body), "{body}");
    }
    sim.shutdown().await;
}

/// Titles are translated by default (TikTok's examples: "Campaign ID", "Campaign Name", "Cost",
/// "Impression", "Click"; "Date" and "Video Watched 2s" are the simulator's guesses),
/// the field names with `enable_report_title_translation` false; the rows are the same.
#[tokio::test]
async fn titles_are_translated_unless_asked_not_to() {
    let (sim, c, adv) = served(allowlisted()).await;
    let dims = ["campaign_id", "stat_time_day"];
    let metrics = [
        "spend",
        "impressions",
        "clicks",
        "campaign_name",
        "video_watched_2s",
    ];
    let mut body = task(
        adv,
        Level::Campaign,
        &dims,
        &metrics,
        ("2024-06-01", "2024-06-30"),
    );
    let (translated, rows) = parse_csv(&run_task(&c, &body).await);
    assert_eq!(
        translated,
        [
            "Campaign ID",
            "Date",
            "Cost",
            "Impression",
            "Click",
            "Campaign Name",
            "Video Watched 2s"
        ]
    );
    next_second().await;
    body["enable_report_title_translation"] = json!(false);
    let (raw, raw_rows) = parse_csv(&run_task(&c, &body).await);
    let names: Vec<&str> = dims.iter().chain(&metrics).copied().collect();
    assert_eq!(raw, names);
    assert_eq!(rows, raw_rows);
    sim.shutdown().await;
}

/// Asynchronous tasks have no time range limit: an hourly report over several days (refused by
/// the synchronous endpoint) holds the synchronous days one after the other, and a daily report
/// over half a year the rows of the days with data.
#[tokio::test]
async fn a_multi_day_hourly_range_is_accepted() {
    let (sim, c, adv) = served(allowlisted()).await;
    let dims = ["campaign_id", "stat_time_hour"];
    let metrics = ["spend", "impressions", "clicks"];
    let hourly = task(
        adv,
        Level::Campaign,
        &dims,
        &metrics,
        ("2024-06-27", "2024-06-30"),
    );
    let refused = c.get(SYNC, &borrowed(&sync_params(&hourly))).await;
    let rule = rules::REPORT_RULES
        .iter()
        .find(|r| r.name == "hourly_span_one_day")
        .unwrap();
    // The rule is one of those a task does not obey: the same query as a task is accepted
    // below (run_task), as is a daily one over half a year at the end of this test.
    assert_eq!(refused["code"], 40002, "{refused}");
    assert_eq!(refused["message"], rule.message, "{refused}");
    let mut by_day = Vec::new();
    for day in ["2024-06-27", "2024-06-28", "2024-06-29", "2024-06-30"] {
        let one = task(adv, Level::Campaign, &dims, &metrics, (day, day));
        by_day.extend(sync_rows(&c, &one).await);
    }
    let (_, records) = parse_csv(&run_task(&c, &hourly).await);
    let days: BTreeSet<&str> = records.iter().map(|r| &r[1][..10]).collect();
    assert_eq!(days.len(), 4, "{days:?}");
    assert_eq!(records, records_of(&by_day, &hourly));

    next_second().await;
    let half_year = task(
        adv,
        Level::Campaign,
        &["campaign_id", "stat_time_day"],
        &metrics,
        ("2024-01-01", "2024-06-30"),
    );
    let refused = c.get(SYNC, &borrowed(&sync_params(&half_year))).await;
    assert_eq!(refused["code"], 40002);
    let daily_span = rules::REPORT_RULES
        .iter()
        .find(|r| r.name == "daily_span_30_days")
        .unwrap();
    assert_eq!(refused["message"], daily_span.message, "{refused}");
    let history = task(
        adv,
        Level::Campaign,
        &["campaign_id", "stat_time_day"],
        &metrics,
        ("2024-06-01", "2024-06-30"),
    );
    let rows = sync_rows(&c, &history).await;
    let (_, records) = parse_csv(&run_task(&c, &half_year).await);
    assert_eq!(records, records_of(&rows, &history));
    sim.shutdown().await;
}

/// Over the ads cap the synchronous answer is throttled and partial while the task's file holds
/// every ad: at ad level exactly the rows of synchronous queries narrowed under the cap by
/// `campaign_ids`; at advertiser level exactly the answer of the same account with no cap in
/// reach.
#[tokio::test]
async fn a_task_over_the_ads_cap_holds_every_ad() {
    let capped = SimConfig {
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 3,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 5,
            auction_only_every: 1,
            deleted_every: 0,
            ..allowlisted().data
        },
        api: ApiBehaviour {
            ads_cap: 20,
            ..allowlisted().api
        },
        ..allowlisted()
    };
    let (sim, c, adv) = served(capped.clone()).await;
    let days = ("2024-06-01", "2024-06-30");

    // Ad level.
    let ads = task(
        adv,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend", "impressions", "likes"],
        days,
    );
    let (throttled_rows, throttled) = sync_page(&c, &ads).await;
    assert!(throttled, "30 ads over a cap of 20");
    let ad_ids = |records: &[Vec<String>]| -> BTreeSet<String> {
        records.iter().map(|r| r[0].clone()).collect()
    };
    assert!(ad_ids(&records_of(&throttled_rows, &ads)).len() <= 20);
    let mut whole: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for campaign in sim.model().entities(EntityKind::Campaign, adv, true) {
        let mut part = ads.clone();
        part["filtering"] = json!([{"field_name": "campaign_ids", "filter_type": "IN",
            "filter_value": json!([campaign["campaign_id"]]).to_string()}]);
        let (rows, throttled) = sync_page(&c, &part).await;
        assert!(!throttled, "10 ads per campaign");
        for r in records_of(&rows, &ads) {
            whole.insert((r[0].clone(), r[1].clone()), r);
        }
    }
    let (_, records) = parse_csv(&run_task(&c, &ads).await);
    assert_eq!(ad_ids(&records).len(), 30, "every ad");
    let file: BTreeMap<(String, String), Vec<String>> = records
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), r))
        .collect();
    assert_eq!(file, whole);

    // Advertiser level.
    next_second().await;
    let account = task(
        adv,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["spend", "impressions", "clicks", "video_play_actions"],
        days,
    );
    let (partial, throttled) = sync_page(&c, &account).await;
    assert!(throttled);
    let (_, records) = parse_csv(&run_task(&c, &account).await);
    let uncapped = spawn(SimConfig {
        api: ApiBehaviour {
            ads_cap: SimConfig::default().api.ads_cap,
            ..capped.api
        },
        ..capped
    })
    .await
    .unwrap();
    let (full, throttled) = sync_page(&Client::new(&uncapped), &account).await;
    assert!(!throttled);
    assert_eq!(records, records_of(&full, &account));
    let spend = |records: &[Vec<String>]| -> f64 {
        records.iter().map(|r| r[2].parse::<f64>().unwrap()).sum()
    };
    assert!(spend(&records) > spend(&records_of(&partial, &account)));
    let log = sim.requests();
    let download_log = log.iter().rev().find(|r| r.path == DOWNLOAD).unwrap();
    assert!(!download_log.ads_throttled && download_log.code == 0);
    assert!(log.iter().any(|r| r.path == SYNC && r.ads_throttled));
    uncapped.shutdown().await;
    sim.shutdown().await;
}
