//! HTTP-level tests of the simulated API: a spawned server queried with reqwest, checked against
//! the [`Model`] it serves.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::*;
use crate::catalog::{Level, ReportType};

/// The asynchronous report tasks (`report/task/create/`, `check/`, `download/`).
mod async_tasks;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
}

fn cfg() -> SimConfig {
    SimConfig {
        today: today(),
        record_requests: true,
        ..SimConfig::default()
    }
}

struct Client {
    http: reqwest::Client,
    root: String,
}

impl Client {
    fn new(sim: &SimHandle) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            root: format!("{}/open_api/v1.3/", sim.base_url()),
        }
    }

    async fn raw(
        &self,
        path: &str,
        params: &[(&str, String)],
        token: Option<&str>,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = self.http.get(format!("{}{path}", self.root)).query(params);
        if let Some(t) = token {
            req = req.header("Access-Token", t);
        }
        req.send().await
    }

    /// A `POST` of the JSON text `body` (sent as it is, even when it is not JSON).
    async fn post(&self, path: &str, body: String, token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(format!("{}{path}", self.root))
            .header("Content-Type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("Access-Token", t);
        }
        req.send().await.unwrap()
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Value {
        let resp = self.raw(path, params, Some("sim-token")).await.unwrap();
        assert_eq!(resp.status(), 200);
        json_of(resp).await
    }

    /// Every page of a paginated endpoint, checking page_info on the way.
    async fn all_pages(&self, path: &str, params: &[(&str, String)], page_size: u64) -> Vec<Value> {
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let mut p = params.to_vec();
            p.push(("page", page.to_string()));
            p.push(("page_size", page_size.to_string()));
            let body = self.get(path, &p).await;
            assert_eq!(body["code"], 0, "{body}");
            let info = &body["data"]["page_info"];
            assert_eq!(info["page"], page);
            assert_eq!(info["page_size"], page_size);
            out.extend(body["data"]["list"].as_array().unwrap().iter().cloned());
            let total_page = info["total_page"].as_u64().unwrap();
            if page >= total_page {
                assert_eq!(info["total_number"].as_u64().unwrap() as usize, out.len());
                return out;
            }
            page += 1;
        }
    }
}

async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

#[tokio::test]
async fn token_is_required_and_checked() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let params = [("advertiser_id", s(adv))];
    let missing = json_of(c.raw("campaign/get/", &params, None).await.unwrap()).await;
    assert_eq!(missing["code"], 40104);
    assert_eq!(missing["data"], json!({}));
    let wrong = json_of(c.raw("campaign/get/", &params, Some("nope")).await.unwrap()).await;
    assert_eq!(wrong["code"], 40105);
    let ok = c.get("campaign/get/", &params).await;
    assert_eq!(ok["code"], 0);
    assert_eq!(ok["message"], "OK");
    assert_ne!(ok["request_id"], wrong["request_id"]);
    let codes: Vec<i64> = sim.requests().iter().map(|r| r.code).collect();
    assert_eq!(codes, vec![40104, 40105, 0]);
    assert_eq!(sim.requests()[2].path, "campaign/get/");
    assert_eq!(sim.requests()[2].params.get("advertiser_id"), Some(&s(adv)));
    assert_eq!(sim.request_count(), 3);
    // Unknown paths and missing trailing slashes are HTTP 404s.
    let r = c
        .raw("campaign/get", &params, Some("sim-token"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn discovery_and_advertiser_info() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let ids = sim.model().advertiser_ids();
    let body = c
        .get(
            "oauth2/advertiser/get/",
            &[("app_id", s("sim-app")), ("secret", s("sim-secret"))],
        )
        .await;
    assert_eq!(body["code"], 0);
    let listed: Vec<String> = body["data"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["advertiser_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, ids.iter().map(u64::to_string).collect::<Vec<_>>());
    assert!(body["data"].get("page_info").is_none());
    let bad = c
        .get(
            "oauth2/advertiser/get/",
            &[("app_id", s("sim-app")), ("secret", s("x"))],
        )
        .await;
    assert_eq!(bad["code"], 40101);

    // Any JSON spacing is accepted.
    let param = format!("[ \"{}\" , {} ]", ids[0], ids[1]);
    let info = c
        .get("advertiser/info/", &[("advertiser_ids", param)])
        .await;
    assert_eq!(info["code"], 0, "{info}");
    let list = info["data"]["list"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0], sim.model().advertiser_info(ids[0]).unwrap());
    assert!(list[0]["create_time"].is_i64());
    let too_many: Vec<String> = (0..101).map(|_| ids[0].to_string()).collect();
    let body = c
        .get(
            "advertiser/info/",
            &[("advertiser_ids", serde_json::to_string(&too_many).unwrap())],
        )
        .await;
    assert_eq!(body["code"], 40011);
    let body = c
        .get("advertiser/info/", &[("advertiser_ids", s("[\"123\"]"))])
        .await;
    assert_eq!(body["code"], 40001);
    sim.shutdown().await;
}

#[tokio::test]
async fn entity_pages_serve_exactly_the_model() {
    // Auction campaigns only: the default listing is every entity (buying types are tested in
    // `entity_lists_by_buying_type`).
    let sim = spawn(SimConfig {
        data: DataShape {
            campaigns_per_advertiser: 4,
            adgroups_per_campaign: 3,
            ads_per_adgroup: 4,
            auction_only_every: 1,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let base = [("advertiser_id", s(adv))];

    let live = c.all_pages("ad/get/", &base, 5).await;
    assert_eq!(live, sim.model().entities(EntityKind::Ad, adv, false));
    let mut with_all = base.to_vec();
    with_all.push(("filtering", s(r#"{"secondary_status": "AD_STATUS_ALL"}"#)));
    let all = c.all_pages("ad/get/", &with_all, 7).await;
    assert_eq!(all, sim.model().entities(EntityKind::Ad, adv, true));
    assert!(all.len() > live.len(), "some ads are deleted");
    assert!(all
        .iter()
        .any(|a| a["secondary_status"] == "AD_STATUS_DELETE"));
    assert!(live
        .iter()
        .all(|a| a["secondary_status"] != "AD_STATUS_DELETE"));

    let groups = c.all_pages("adgroup/get/", &base, 1000).await;
    assert_eq!(
        groups,
        sim.model().entities(EntityKind::AdGroup, adv, false)
    );

    // A page past the end is empty; page_size is capped at 1000.
    let body = c
        .get(
            "ad/get/",
            &[
                ("advertiser_id", s(adv)),
                ("page", s(99)),
                ("page_size", s(10)),
            ],
        )
        .await;
    assert_eq!(body["data"]["list"], json!([]));
    assert_eq!(body["data"]["page_info"]["total_number"], live.len());
    let body = c
        .get(
            "ad/get/",
            &[("advertiser_id", s(adv)), ("page_size", s(1001))],
        )
        .await;
    assert_eq!(body["code"], 40002);

    // `fields` restricts the keys.
    let body = c
        .get(
            "ad/get/",
            &[
                ("advertiser_id", s(adv)),
                ("fields", s(r#"["ad_id","modify_time"]"#)),
            ],
        )
        .await;
    let first = body["data"]["list"][0].as_object().unwrap();
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        vec!["ad_id", "modify_time"]
    );
    sim.shutdown().await;
}

/// `campaign/get/`, `adgroup/get/` and `ad/get/`: `buying_types` defaults to auction and reach &
/// frequency; TopView is listed only when asked alone, with `page_size` at most 100.
#[tokio::test]
async fn entity_lists_by_buying_type() {
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 10,
            deleted_every: 0,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    for (path, kind) in [
        ("campaign/get/", EntityKind::Campaign),
        ("adgroup/get/", EntityKind::AdGroup),
        ("ad/get/", EntityKind::Ad),
    ] {
        let campaign_type: std::collections::HashMap<String, String> = sim
            .model()
            .entities(EntityKind::Campaign, adv, true)
            .iter()
            .map(|c| {
                (
                    c["campaign_id"].as_str().unwrap().to_string(),
                    c["buying_type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let type_of = |e: &Value| campaign_type[e["campaign_id"].as_str().unwrap()].clone();
        let mut seen = 0;
        for (filter, size, types) in [
            (None, 1000, &["AUCTION", "RESERVATION_RF"][..]),
            (
                Some(r#"{"buying_types":["RESERVATION_TOP_VIEW"]}"#),
                100,
                &["RESERVATION_TOP_VIEW"][..],
            ),
        ] {
            let mut p = vec![("advertiser_id", s(adv))];
            if let Some(f) = filter {
                p.push(("filtering", s(f)));
            }
            let list = c.all_pages(path, &p, size).await;
            assert!(!list.is_empty(), "{path} {types:?}");
            for t in types {
                assert!(list.iter().any(|e| type_of(e) == *t), "{path} lists no {t}");
            }
            assert!(list.iter().all(|e| types.contains(&type_of(e).as_str())));
            seen += list.len();
        }
        assert_eq!(seen, sim.model().entities(kind, adv, true).len(), "{path}");
        // TopView with another buying type, or with more than 100 a page: refused.
        for (filter, size) in [
            (
                r#"{"buying_types":["AUCTION","RESERVATION_TOP_VIEW"]}"#,
                "100",
            ),
            (r#"{"buying_types":["RESERVATION_TOP_VIEW"]}"#, "101"),
            (r#"{"buying_types":["RESERVATION"]}"#, "10"),
        ] {
            let p = [
                ("advertiser_id", s(adv)),
                ("filtering", s(filter)),
                ("page_size", s(size)),
            ];
            let body = c.get(path, &p).await;
            assert_eq!(body["code"], 40002, "{path} {filter} {size}: {body}");
        }
    }
    sim.shutdown().await;
}

/// A report over more ads than the cap carries `X-Tt-Ads-Throttle`; one narrowed under the
/// cap by an id filter does not.
#[tokio::test]
async fn reports_over_the_ads_cap_carry_the_throttle_header() {
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 3,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 5,
            auction_only_every: 1,
            ..cfg().data
        },
        api: ApiBehaviour {
            ads_cap: 20,
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let campaign = sim.model().entities(EntityKind::Campaign, adv, true)[0]["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    for (level, dims) in [
        (Level::Advertiser, r#"["advertiser_id","stat_time_day"]"#),
        (Level::Campaign, r#"["campaign_id","stat_time_day"]"#),
        (Level::AdGroup, r#"["adgroup_id","stat_time_day"]"#),
        (Level::Ad, r#"["ad_id","stat_time_day"]"#),
    ] {
        let mut p = report_params(
            adv,
            level,
            dims,
            DateRange {
                start: "2024-06-01",
                end: "2024-06-30",
            },
        );
        p[5].1 = s(r#"["spend","impressions"]"#);
        p.push(("page_size", s("1000")));
        let resp = c
            .raw("report/integrated/get/", &p, Some("sim-token"))
            .await
            .unwrap();
        assert!(
            resp.headers().contains_key(ADS_THROTTLE_HEADER),
            "{level:?}: 30 ads over a cap of 20"
        );
        assert_eq!(json_of(resp).await["code"], 0);
        if level != Level::Advertiser {
            p.push((
                "filtering",
                json!([{"field_name": "campaign_ids", "filter_type": "IN",
                        "filter_value": json!([campaign]).to_string()}])
                .to_string(),
            ));
            let resp = c
                .raw("report/integrated/get/", &p, Some("sim-token"))
                .await
                .unwrap();
            assert!(
                !resp.headers().contains_key(ADS_THROTTLE_HEADER),
                "{level:?}"
            );
        }
    }
    sim.shutdown().await;
}

/// `advertiser_ids`: each account's rows are those of its own query, with `advertiser_id`,
/// `currency` and `timezone` among the metrics and spend as a whole number; more than five
/// accounts, or an account the token cannot read, are refused.
#[tokio::test]
async fn multi_account_reports_hold_each_accounts_own_rows() {
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 6,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let ids = sim.model().advertiser_ids();
    let days = || DateRange {
        start: "2024-06-01",
        end: "2024-06-30",
    };
    let dims = r#"["advertiser_id","stat_time_day"]"#;
    let mut single_rows = Vec::new();
    for id in &ids[..5] {
        let mut p = report_params(*id, Level::Advertiser, dims, days());
        p[5].1 = s(r#"["spend","impressions"]"#);
        p.push(("page_size", s("1000")));
        let body = c.get("report/integrated/get/", &p).await;
        single_rows.extend(body["data"]["list"].as_array().unwrap().clone());
    }
    assert!(!single_rows.is_empty());
    let batch = |ids: &[u64]| {
        let mut p = report_params(ids[0], Level::Advertiser, dims, days());
        p.retain(|(k, _)| *k != "advertiser_id");
        p[4].1 = s(r#"["spend","impressions"]"#);
        p.push((
            "advertiser_ids",
            json!(ids.iter().map(|i| i.to_string()).collect::<Vec<_>>()).to_string(),
        ));
        p.push(("page_size", s("1000")));
        p
    };
    let body = c.get("report/integrated/get/", &batch(&ids[..5])).await;
    assert_eq!(body["code"], 0, "{body}");
    let multi = body["data"]["list"].as_array().unwrap();
    assert_eq!(multi.len(), single_rows.len());
    for (one, row) in single_rows.iter().zip(multi) {
        assert_eq!(one["dimensions"], row["dimensions"]);
        let m = &row["metrics"];
        assert_eq!(m["impressions"], one["metrics"]["impressions"]);
        let spend: f64 = one["metrics"]["spend"].as_str().unwrap().parse().unwrap();
        assert_eq!(m["spend"], json!(format!("{spend:.0}")));
        assert_eq!(m["advertiser_id"], one["dimensions"]["advertiser_id"]);
        assert!(
            m["currency"].is_string() && m["timezone"].is_string(),
            "{row}"
        );
    }
    let body = c.get("report/integrated/get/", &batch(&ids)).await;
    assert_eq!(body["code"], 40002, "six accounts: {body}");
    sim.shutdown().await;
    // Accounts of two TikTok for Business users: refused together.
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 6,
            users: 2,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let body = c.get("report/integrated/get/", &batch(&ids[..2])).await;
    assert_eq!(body["code"], 40002, "two users: {body}");
    let same_user = [ids[0], ids[2], ids[4]];
    let body = c.get("report/integrated/get/", &batch(&same_user)).await;
    assert_eq!(body["code"], 0, "{body}");
    let mut unknown = ids[..2].to_vec();
    unknown.push(42);
    let body = c.get("report/integrated/get/", &batch(&unknown)).await;
    assert_eq!(body["code"], 40001, "{body}");
    sim.shutdown().await;
}

/// The first and last day of a report query, as `YYYY-MM-DD` (both empty for a lifetime query).
struct DateRange<'a> {
    start: &'a str,
    end: &'a str,
}

fn report_params(
    adv: u64,
    level: Level,
    dims: &str,
    days: DateRange,
) -> Vec<(&'static str, String)> {
    vec![
        ("advertiser_id", s(adv)),
        ("service_type", s("AUCTION")),
        ("report_type", s("BASIC")),
        ("data_level", s(level.data_level())),
        ("dimensions", s(dims)),
        (
            "metrics",
            s(r#"["spend", "impressions", "campaign_name", "video_play_actions"]"#),
        ),
        ("start_date", s(days.start)),
        ("end_date", s(days.end)),
    ]
}

#[tokio::test]
async fn report_pages_serve_exactly_the_model() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let mut p = report_params(
        adv,
        Level::Ad,
        r#"["ad_id", "stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-30",
        },
    );
    p.push((
        "filtering",
        s(r#"[{"field_name":"ad_status","filter_type":"IN","filter_value":"[\"STATUS_ALL\"]"}]"#),
    ));
    let served = c.all_pages("report/integrated/get/", &p, 37).await;
    let q = ReportQuery {
        advertiser_id: adv,
        report_type: ReportType::Basic,
        level: Level::Ad,
        dimensions: vec!["ad_id".into(), "stat_time_day".into()],
        metrics: [
            "spend",
            "impressions",
            "campaign_name",
            "video_play_actions",
        ]
        .map(String::from)
        .to_vec(),
        start_date: NaiveDate::from_ymd_opt(2024, 6, 1),
        end_date: NaiveDate::from_ymd_opt(2024, 6, 30),
        lifetime: false,
        filtering: vec![
            json!({"field_name":"ad_status","filter_type":"IN","filter_value":"[\"STATUS_ALL\"]"}),
        ],
    };
    let expected = sim.model().report_rows(&q).unwrap();
    assert!(expected.len() > 100);
    assert_eq!(served, expected);

    // Rule violations answer 40002 over HTTP too.
    let long = report_params(
        adv,
        Level::Ad,
        r#"["ad_id","stat_time_day"]"#,
        DateRange {
            start: "2024-05-31",
            end: "2024-06-30",
        },
    );
    assert_eq!(c.get("report/integrated/get/", &long).await["code"], 40002);
    let two_days = report_params(
        adv,
        Level::Ad,
        r#"["ad_id","stat_time_hour"]"#,
        DateRange {
            start: "2024-06-29",
            end: "2024-06-30",
        },
    );
    assert_eq!(
        c.get("report/integrated/get/", &two_days).await["code"],
        40002
    );
    let mut aud = report_params(
        adv,
        Level::Ad,
        r#"["ad_id","stat_time_hour","gender","age"]"#,
        DateRange {
            start: "2024-06-30",
            end: "2024-06-30",
        },
    );
    aud[2].1 = s("AUDIENCE");
    aud[5].1 = s(r#"["spend"]"#);
    let body = c.get("report/integrated/get/", &aud).await;
    assert_eq!(body["code"], 40002);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Conflict occurs"));
    let mut bad_metric = report_params(
        adv,
        Level::Ad,
        r#"["ad_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-02",
        },
    );
    bad_metric[5].1 = s(r#"["spend","nope"]"#);
    let body = c.get("report/integrated/get/", &bad_metric).await;
    assert_eq!(body["code"], 40002);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Invalid metric fields"));
    let mut lifetime = report_params(
        adv,
        Level::Campaign,
        r#"["campaign_id"]"#,
        DateRange { start: "", end: "" },
    );
    lifetime.truncate(6);
    lifetime.push(("query_lifetime", s("true")));
    let rows = c.all_pages("report/integrated/get/", &lifetime, 1000).await;
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| r["dimensions"].as_object().unwrap().len() == 1));
    sim.shutdown().await;
}

#[tokio::test]
async fn sandbox_refusals() {
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            sandbox: true,
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let body = c
        .get(
            "oauth2/advertiser/get/",
            &[("app_id", s("sim-app")), ("secret", s("sim-secret"))],
        )
        .await;
    assert_eq!(body["code"], 40014);
    let p = report_params(
        adv,
        Level::Advertiser,
        r#"["advertiser_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-02",
        },
    );
    let body = c.get("report/integrated/get/", &p).await;
    assert_eq!(body["code"], 40009);
    assert_eq!(
        body["message"],
        "Unsupported data_level in sandbox environment"
    );
    let p = report_params(
        adv,
        Level::Campaign,
        r#"["campaign_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-02",
        },
    );
    assert_eq!(c.get("report/integrated/get/", &p).await["code"], 0);
    sim.shutdown().await;
}

fn rule(fault: Fault, every: u32) -> FaultRule {
    FaultRule {
        fault,
        every,
        paths: None,
    }
}

#[tokio::test]
async fn code_and_http_faults_hit_every_nth_matching_request() {
    let sim = spawn(SimConfig {
        faults: Faults {
            rules: vec![
                FaultRule {
                    fault: Fault::Code(40100),
                    every: 2,
                    paths: Some(vec!["campaign/get/".into()]),
                },
                FaultRule {
                    fault: Fault::Http(504),
                    every: 3,
                    paths: Some(vec!["ad/get/".into()]),
                },
            ],
            ..cfg().faults
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let p = [("advertiser_id", s(sim.model().advertiser_ids()[0]))];
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(c.get("campaign/get/", &p).await["code"].as_i64().unwrap());
    }
    assert_eq!(codes, vec![0, 40100, 0, 40100]);
    let limited = c.get("campaign/get/", &p).await;
    assert_eq!(limited["code"], 0);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = c.raw("ad/get/", &p, Some("sim-token")).await.unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 504 {
            let text = r.text().await.unwrap();
            assert!(text.contains("<html>") && serde_json::from_str::<Value>(&text).is_err());
        }
    }
    assert_eq!(statuses, vec![200, 200, 504]);
    let recorded: Vec<i64> = sim.requests().iter().map(|r| r.code).collect();
    assert_eq!(recorded, vec![0, 40100, 0, 40100, 0, 0, 0, 504]);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_truncated_and_slow_responses() {
    let sim = spawn(SimConfig {
        faults: Faults {
            rules: vec![
                FaultRule {
                    fault: Fault::DropConnection,
                    every: 1,
                    paths: Some(vec!["ad/get/".into()]),
                },
                FaultRule {
                    fault: Fault::TruncatedJson,
                    every: 1,
                    paths: Some(vec!["adgroup/get/".into()]),
                },
                FaultRule {
                    fault: Fault::Slow(Duration::from_secs(3)),
                    every: 1,
                    paths: Some(vec!["campaign/get/".into()]),
                },
            ],
            ..cfg().faults
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let p = [
        ("advertiser_id", s(sim.model().advertiser_ids()[0])),
        ("page_size", s(100)),
    ];

    // Headers arrive, then the body breaks off.
    let dropped = c.raw("ad/get/", &p, Some("sim-token")).await.unwrap();
    assert_eq!(dropped.status(), 200);
    assert!(dropped.content_length().unwrap() > 100);
    assert!(dropped.bytes().await.is_err(), "the body must fail mid-way");

    let resp = c.raw("adgroup/get/", &p, Some("sim-token")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("{\"code\":0"));
    assert!(
        serde_json::from_str::<Value>(&text).is_err(),
        "truncated JSON must not parse"
    );

    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = Instant::now();
    let slow = impatient
        .get(format!("{}/open_api/v1.3/campaign/get/", sim.base_url()))
        .query(&p)
        .header("Access-Token", "sim-token")
        .send()
        .await;
    assert!(slow.unwrap_err().is_timeout());
    assert!(started.elapsed() < Duration::from_secs(2));
    // Other paths are untouched.
    let ok = c
        .get(
            "oauth2/advertiser/get/",
            &[("app_id", s("sim-app")), ("secret", s("sim-secret"))],
        )
        .await;
    assert_eq!(ok["code"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn window_permission_and_storm_faults() {
    let ids = Model::new(&cfg()).advertiser_ids();
    let sim = spawn(SimConfig {
        faults: Faults {
            rules: vec![
                rule(Fault::QueryTooLarge { max_days: 7 }, 1),
                rule(
                    Fault::NoPermission {
                        advertiser_id: ids[1],
                    },
                    1,
                ),
                rule(Fault::RateLimitStorm(Duration::from_millis(400)), 1),
            ],
            ..cfg().faults
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let p = [("advertiser_id", s(ids[0]))];
    assert_eq!(
        c.get("campaign/get/", &p).await["code"],
        40100,
        "storm at start"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(c.get("campaign/get/", &p).await["code"], 0, "storm over");

    let eight = report_params(
        ids[0],
        Level::Campaign,
        r#"["campaign_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-08",
        },
    );
    let body = c.get("report/integrated/get/", &eight).await;
    assert_eq!(body["code"], 40067);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("query is too large"));
    let seven = report_params(
        ids[0],
        Level::Campaign,
        r#"["campaign_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-07",
        },
    );
    assert_eq!(c.get("report/integrated/get/", &seven).await["code"], 0);

    assert_eq!(
        c.get("campaign/get/", &[("advertiser_id", s(ids[1]))])
            .await["code"],
        40001
    );
    let info = c
        .get(
            "advertiser/info/",
            &[("advertiser_ids", format!("[\"{}\"]", ids[1]))],
        )
        .await;
    assert_eq!(info["code"], 40001);
    let info = c
        .get(
            "advertiser/info/",
            &[("advertiser_ids", format!("[\"{}\"]", ids[0]))],
        )
        .await;
    assert_eq!(info["code"], 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn latency_is_added() {
    let sim = spawn(SimConfig {
        faults: Faults {
            latency: Duration::from_millis(150),
            ..cfg().faults
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let started = Instant::now();
    let body = c
        .get(
            "campaign/get/",
            &[("advertiser_id", s(sim.model().advertiser_ids()[0]))],
        )
        .await;
    assert_eq!(body["code"], 0);
    assert!(started.elapsed() >= Duration::from_millis(150));
    sim.shutdown().await;
}

#[tokio::test]
async fn serves_a_benchmark_sized_account() {
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 10,
            adgroups_per_campaign: 20,
            ads_per_adgroup: 100,
            auction_only_every: 1,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let started = Instant::now();
    let mut p = vec![("advertiser_id", s(adv))];
    p.push(("filtering", s(r#"{"secondary_status":"AD_STATUS_ALL"}"#)));
    let ads = c.all_pages("ad/get/", &p, 1000).await;
    assert_eq!(ads.len(), 20_000);
    let ads_time = started.elapsed();
    let started = Instant::now();
    let mut p = report_params(
        adv,
        Level::Ad,
        r#"["ad_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-29",
            end: "2024-06-30",
        },
    );
    p[5].1 = s(serde_json::to_string(&crate::catalog::sample_metrics(
        ReportType::Basic,
        Level::Ad,
        crate::catalog::Granularity::Day,
        crate::catalog::Breakdown::None,
    ))
    .unwrap());
    let rows = c.all_pages("report/integrated/get/", &p, 1000).await;
    assert!(rows.len() > 10_000, "{}", rows.len());
    let report_time = started.elapsed();
    tracing::info!(
        ?ads_time,
        ?report_time,
        rows = rows.len(),
        "benchmark-sized account"
    );
    // How fast is the benchmark's business (bench/bench.py), not a test's.
    sim.shutdown().await;
}

/// Every page of an asset endpoint, records read at `kind.list_key()`.
async fn asset_pages(c: &Client, kind: AssetKind, adv: u64, page_size: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut page = 1;
    loop {
        let body = c
            .get(
                kind.path(),
                &[
                    ("advertiser_id", s(adv)),
                    ("page", s(page)),
                    ("page_size", s(page_size)),
                ],
            )
            .await;
        assert_eq!(body["code"], 0, "{kind:?}: {body}");
        let data = body["data"].as_object().unwrap();
        assert_eq!(data.len(), 2, "{kind:?}: only the list and page_info");
        let info = &data["page_info"];
        assert_eq!(info["page"], page);
        assert_eq!(info["page_size"], page_size);
        out.extend(data[kind.list_key()].as_array().unwrap().iter().cloned());
        if page >= info["total_page"].as_u64().unwrap() {
            assert_eq!(info["total_number"].as_u64().unwrap() as usize, out.len());
            return out;
        }
        page += 1;
    }
}

#[tokio::test]
async fn asset_pages_serve_exactly_the_model() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[1];
    for kind in AssetKind::ALL {
        let expected = sim.model().assets(kind, adv).unwrap();
        assert!(!expected.is_empty());
        for size in [1, 4, kind.max_page_size()] {
            assert_eq!(
                asset_pages(&c, kind, adv, size).await,
                expected,
                "{kind:?} page_size {size}"
            );
        }
        // Default page size is 10; past the end is an empty page with the same totals.
        let body = c
            .get(kind.path(), &[("advertiser_id", s(adv)), ("page", s(99))])
            .await;
        assert_eq!(body["data"][kind.list_key()], json!([]));
        assert_eq!(body["data"]["page_info"]["page_size"], 10);
        assert_eq!(
            body["data"]["page_info"]["total_number"],
            expected.len() as u64
        );
        let over = c
            .get(
                kind.path(),
                &[
                    ("advertiser_id", s(adv)),
                    ("page_size", s(kind.max_page_size() + 1)),
                ],
            )
            .await;
        assert_eq!(over["code"], 40002, "{kind:?}");
        let unknown = c.get(kind.path(), &[("advertiser_id", s(1))]).await;
        assert_eq!(unknown["code"], 40001, "{kind:?}");
        let missing = c.get(kind.path(), &[]).await;
        assert_eq!(missing["code"], 40002, "{kind:?}");
    }
    // The non-`list` keys are the only key of their kind.
    let music = c.get("file/music/get/", &[("advertiser_id", s(adv))]).await;
    assert!(music["data"]["musics"].is_array());
    assert!(music["data"].get("list").is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_asset_pages() {
    let a = spawn(cfg()).await.unwrap();
    let b = spawn(cfg()).await.unwrap();
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    let adv = a.model().advertiser_ids()[0];
    for kind in AssetKind::ALL {
        assert_eq!(
            asset_pages(&ca, kind, adv, 3).await,
            asset_pages(&cb, kind, adv, 3).await
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn sandbox_refuses_spark_ads_and_pixels() {
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            sandbox: true,
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    for kind in AssetKind::ALL {
        let body = c.get(kind.path(), &[("advertiser_id", s(adv))]).await;
        let want = if kind.production_only() { 40014 } else { 0 };
        assert_eq!(body["code"], want, "{kind:?}");
    }
    let body = c
        .get(
            "pixel/instant_page/event/",
            &[
                ("advertiser_id", s(adv)),
                ("objective_type", s("TRAFFIC")),
                ("optimization_goal", s("CLICK")),
            ],
        )
        .await;
    assert_eq!(body["code"], 40014);
    let body = c
        .get(
            "pixel/event/stats/",
            &[
                ("advertiser_id", s(adv)),
                ("pixel_ids", s(r#"["1"]"#)),
                (
                    "date_range",
                    s(r#"{"start_date":"2024-06-01","end_date":"2024-06-30"}"#),
                ),
            ],
        )
        .await;
    assert_eq!(body["code"], 40014);
    assert_eq!(
        body["message"],
        "This API is not supported in sandbox environment."
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn pixel_endpoints_refuse_advertisers_without_permission() {
    let sim = spawn(SimConfig {
        data: DataShape {
            advertisers: 5,
            ..cfg().data
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let ids = sim.model().advertiser_ids();
    let denied = ids[3];
    assert!(!sim.model().pixel_permission(denied));
    let pixel = sim.model().assets(AssetKind::Pixel, ids[0]).unwrap()[0]["pixel_id"].clone();
    let requests: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("pixel/list/", vec![]),
        (
            "pixel/instant_page/event/",
            vec![
                ("objective_type", s("TRAFFIC")),
                ("optimization_goal", s("CLICK")),
            ],
        ),
        (
            "pixel/event/stats/",
            vec![
                ("pixel_ids", json!([pixel]).to_string()),
                (
                    "date_range",
                    s(r#"{"start_date":"2024-06-01","end_date":"2024-06-30"}"#),
                ),
            ],
        ),
    ];
    for (path, extra) in &requests {
        for &adv in &ids {
            let mut p = extra.clone();
            p.push(("advertiser_id", s(adv)));
            let body = c.get(path, &p).await;
            if adv == denied {
                assert_eq!(body["code"], 40001, "{path}");
                assert!(body["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("No permission"));
                assert_eq!(body["data"], json!({}));
            } else {
                assert_ne!(body["code"], 40001, "{path} {adv}: {body}");
            }
        }
    }
    // Everything else still works for that advertiser.
    let body = c
        .get("file/image/ad/search/", &[("advertiser_id", s(denied))])
        .await;
    assert_eq!(body["code"], 0);
    sim.shutdown().await;

    let open = spawn(SimConfig {
        data: DataShape {
            advertisers: 5,
            ..cfg().data
        },
        assets: AssetCounts {
            pixel_denied_every: 0,
            ..cfg().assets
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&open);
    let body = c.get("pixel/list/", &[("advertiser_id", s(ids[3]))]).await;
    assert_eq!(body["code"], 0);
    open.shutdown().await;
}

#[tokio::test]
async fn instant_page_events_for_every_combination() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let (mut ok, mut refused) = (0, 0);
    for o in OBJECTIVE_TYPES {
        for g in OPTIMIZATION_GOALS {
            let body = c
                .get(
                    "pixel/instant_page/event/",
                    &[
                        ("advertiser_id", s(adv)),
                        ("objective_type", s(o)),
                        ("optimization_goal", s(g)),
                    ],
                )
                .await;
            match sim.model().instant_page_events(adv, o, g) {
                Ok(list) => {
                    ok += 1;
                    assert_eq!(body["code"], 0);
                    assert_eq!(body["data"], json!({ "list": list }), "no page_info");
                }
                Err((code, message)) => {
                    refused += 1;
                    assert_eq!(body["code"], code);
                    assert_eq!(body["message"], message);
                    assert!(message.contains("unsupported objective_type/optimization_goal"));
                }
            }
        }
    }
    assert_eq!(ok + refused, 220);
    assert!(ok > 60 && refused > 60, "{ok} supported, {refused} refused");
    for missing in ["objective_type", "optimization_goal"] {
        let mut p = vec![
            ("advertiser_id", s(adv)),
            ("objective_type", s("TRAFFIC")),
            ("optimization_goal", s("CLICK")),
        ];
        p.retain(|(k, _)| *k != missing);
        let body = c.get("pixel/instant_page/event/", &p).await;
        assert_eq!(body["code"], 40002);
        assert!(body["message"].as_str().unwrap().starts_with(missing));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn pixel_stats_check_their_arguments() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let pixels: Vec<String> = sim
        .model()
        .assets(AssetKind::Pixel, adv)
        .unwrap()
        .iter()
        .map(|p| p["pixel_id"].as_str().unwrap().to_string())
        .collect();
    let good_range = s(r#"{"start_date": "2024-06-01", "end_date": "2024-06-30"}"#);
    let ask = |ids: String, range: String| {
        let c = &c;
        async move {
            c.get(
                "pixel/event/stats/",
                &[
                    ("advertiser_id", s(adv)),
                    ("pixel_ids", ids),
                    ("date_range", range),
                ],
            )
            .await
        }
    };
    let body = ask(json!(pixels).to_string(), good_range.clone()).await;
    assert_eq!(body["code"], 0, "{body}");
    let expected = sim
        .model()
        .pixel_event_stats(
            adv,
            &pixels,
            NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(),
            today(),
        )
        .unwrap();
    assert_eq!(body["data"], json!({ "list": expected }), "no page_info");
    assert!(expected
        .iter()
        .all(|r| r["pixel_id"].is_string() && r["event"].is_string() && r["count"].is_u64()));

    // Airbyte 4.7.0's Python-quoted list, a bare id and a number list.
    for ids in [format!("['{}']", pixels[0]), pixels[0].clone()] {
        let body = ask(ids, good_range.clone()).await;
        assert_eq!(body["code"], 40002);
        assert_eq!(body["message"], "pixel_ids: Field must be set to array");
    }
    let body = ask(format!("[{}]", pixels[0]), good_range.clone()).await;
    assert_eq!(body["code"], 40002);
    // 4.7.0's unquoted dates, a missing end, a string, 31 days, reversed, the future.
    for range in [
        s("{start_date: 2024-06-01, end_date: 2024-06-30}"),
        s(r#"{"start_date": "2024-06-01"}"#),
        s(r#""2024-06-01""#),
        s(r#"{"start_date": "2024-05-31", "end_date": "2024-06-30"}"#),
        s(r#"{"start_date": "2024-06-10", "end_date": "2024-06-09"}"#),
        s(r#"{"start_date": "2024-07-01", "end_date": "2024-07-29"}"#),
        s(r#"{"start_date": "2024-06-01", "end_date": "06/30/2024"}"#),
    ] {
        let body = ask(json!(pixels).to_string(), range.clone()).await;
        assert_eq!(body["code"], 40002, "{range}: {body}");
    }
    let body = c
        .get(
            "pixel/event/stats/",
            &[
                ("advertiser_id", s(adv)),
                ("date_range", good_range.clone()),
            ],
        )
        .await;
    assert_eq!(body["code"], 40002, "pixel_ids is required");
    let body = ask(s(r#"["123"]"#), good_range).await;
    assert_eq!(body["code"], 40002, "unknown pixel");
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_can_target_the_new_paths() {
    let spec = super::faults::parse_fault("40100/1@pixel/list/,file/music/get/").unwrap();
    let sim = spawn(SimConfig {
        faults: Faults {
            rules: vec![spec],
            ..cfg().faults
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    for kind in AssetKind::ALL {
        let body = c.get(kind.path(), &[("advertiser_id", s(adv))]).await;
        let want = if matches!(kind, AssetKind::Pixel | AssetKind::Music) {
            40100
        } else {
            0
        };
        assert_eq!(body["code"], want, "{kind:?}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn an_app_without_a_scope_is_refused_on_every_advertiser_naming_the_scope() {
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            missing_scopes: vec!["Reporting".into()],
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    for adv in sim.model().advertiser_ids() {
        let p = report_params(
            adv,
            Level::Campaign,
            r#"["campaign_id","stat_time_day"]"#,
            DateRange {
                start: "2024-06-01",
                end: "2024-06-02",
            },
        );
        let body = c.get("report/integrated/get/", &p).await;
        assert_eq!(body["code"], 40001, "{body}");
        assert!(body["message"].as_str().unwrap().contains("\"Reporting\""));
        // Endpoints of other scopes still answer.
        let campaigns = c.get("campaign/get/", &[("advertiser_id", s(adv))]).await;
        assert_eq!(campaigns["code"], 0);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn quotas_refuse_beyond_the_minute_and_the_day_per_endpoint() {
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            quota: Some(rules::Quota {
                per_minute: 3,
                per_day: 5,
            }),
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    let p = [("advertiser_id", s(adv))];
    let mut codes = Vec::new();
    for _ in 0..4 {
        codes.push(c.get("campaign/get/", &p).await["code"].as_i64().unwrap());
    }
    assert_eq!(codes, vec![0, 0, 0, 40100]);
    let minute = c.get("campaign/get/", &p).await;
    assert!(
        minute["message"].as_str().unwrap().contains("QPM"),
        "{minute}"
    );
    // Another endpoint has its own count.
    assert_eq!(c.get("ad/get/", &p).await["code"], 0);
    sim.shutdown().await;

    // The daily quota: the minute never fills, the day does.
    let sim = spawn(SimConfig {
        api: ApiBehaviour {
            quota: Some(rules::Quota {
                per_minute: 100,
                per_day: 2,
            }),
            ..cfg().api
        },
        ..cfg()
    })
    .await
    .unwrap();
    let c = Client::new(&sim);
    assert_eq!(c.get("campaign/get/", &p).await["code"], 0);
    assert_eq!(c.get("campaign/get/", &p).await["code"], 0);
    let day = c.get("campaign/get/", &p).await;
    assert_eq!(day["code"], 40100);
    assert!(day["message"].as_str().unwrap().contains("QPD"), "{day}");
    sim.shutdown().await;
}

#[tokio::test]
async fn page_size_limits_follow_the_rules_table() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    for rule in rules::PAGE_SIZE_RULES {
        if rule.path == "report/integrated/get/" {
            continue;
        }
        let over = c
            .get(
                rule.path,
                &[("advertiser_id", s(adv)), ("page_size", s(rule.max + 1))],
            )
            .await;
        assert_eq!(over["code"], 40002, "{}: {over}", rule.path);
        assert!(over["message"].as_str().unwrap().starts_with("page_size"));
    }
    let mut p = report_params(
        adv,
        Level::Campaign,
        r#"["campaign_id","stat_time_day"]"#,
        DateRange {
            start: "2024-06-01",
            end: "2024-06-02",
        },
    );
    p.push(("page_size", s(1001)));
    assert_eq!(c.get("report/integrated/get/", &p).await["code"], 40002);
    sim.shutdown().await;
}

/// Every row of [`rules::REPORT_RULES`] refuses, over HTTP, a query that breaks it, with the
/// row's code and message; the same query within the rule is served.
#[tokio::test]
async fn every_documented_report_rule_refuses_over_http() {
    let sim = spawn(cfg()).await.unwrap();
    let c = Client::new(&sim);
    let adv = sim.model().advertiser_ids()[0];
    // (rule, report_type, data_level, dimensions, dates or lifetime, an accepted variant, the
    // accepted variant's dimensions when they differ)
    type Case = (
        &'static str,
        &'static str,
        Level,
        &'static str,
        (&'static str, &'static str, bool),
        (&'static str, &'static str, bool),
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "dates_required",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day"]"#,
            ("", "", false),
            ("2024-06-01", "2024-06-02", false),
            "",
        ),
        (
            "start_before_end",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day"]"#,
            ("2024-06-03", "2024-06-02", false),
            ("2024-06-02", "2024-06-03", false),
            "",
        ),
        (
            "audience_has_no_lifetime",
            "AUDIENCE",
            Level::Advertiser,
            r#"["advertiser_id","gender","age"]"#,
            ("", "", true),
            ("2023-07-02", "2024-06-30", false),
            "",
        ),
        (
            "lifetime_without_time_or_country",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","country_code"]"#,
            ("", "", true),
            ("2023-07-02", "2024-06-30", false),
            "",
        ),
        (
            "hourly_audience_refused",
            "AUDIENCE",
            Level::Ad,
            r#"["ad_id","stat_time_hour","gender"]"#,
            ("2024-06-30", "2024-06-30", false),
            ("2024-06-30", "2024-06-30", false),
            "",
        ),
        (
            "daily_span_30_days",
            "BASIC",
            Level::Ad,
            r#"["ad_id","stat_time_day"]"#,
            ("2024-05-31", "2024-06-30", false),
            ("2024-06-01", "2024-06-30", false),
            "",
        ),
        (
            "hourly_span_one_day",
            "BASIC",
            Level::Ad,
            r#"["ad_id","stat_time_hour"]"#,
            ("2024-06-29", "2024-06-30", false),
            ("2024-06-30", "2024-06-30", false),
            "",
        ),
        (
            "totals_span_365_days",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id"]"#,
            ("2023-07-01", "2024-06-30", false),
            ("2023-07-02", "2024-06-30", false),
            "",
        ),
        (
            "known_dimensions",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day","nope"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day"]"#,
        ),
        (
            "dimensions_once",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day","campaign_id"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day"]"#,
        ),
        (
            "one_id_dimension_of_the_level",
            "BASIC",
            Level::Ad,
            r#"["campaign_id","stat_time_day"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["ad_id","stat_time_day"]"#,
        ),
        (
            "one_time_dimension",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day","stat_time_hour"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day"]"#,
        ),
        (
            "breakdowns_gender_with_age_only",
            "AUDIENCE",
            Level::Campaign,
            r#"["campaign_id","stat_time_day","gender","platform"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day","gender","age"]"#,
        ),
        (
            "audience_dimensions_in_audience_reports",
            "BASIC",
            Level::Campaign,
            r#"["campaign_id","stat_time_day","gender"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day","country_code"]"#,
        ),
        (
            "audience_reports_need_an_audience_dimension",
            "AUDIENCE",
            Level::Campaign,
            r#"["campaign_id","stat_time_day"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["campaign_id","stat_time_day","platform"]"#,
        ),
        (
            "province_at_ad_level",
            "AUDIENCE",
            Level::AdGroup,
            r#"["adgroup_id","stat_time_day","province_id"]"#,
            ("2024-06-01", "2024-06-02", false),
            ("2024-06-01", "2024-06-02", false),
            r#"["adgroup_id","stat_time_day","country_code"]"#,
        ),
    ];
    let names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    for rule in rules::REPORT_RULES {
        assert!(names.contains(&rule.name), "rule {} has no case", rule.name);
    }
    let params = |report_type: &str, level: Level, dims: &str, when: (&str, &str, bool)| {
        let mut p = vec![
            ("advertiser_id", s(adv)),
            ("report_type", s(report_type)),
            ("data_level", s(level.data_level())),
            ("dimensions", s(dims)),
            ("metrics", s(r#"["spend"]"#)),
        ];
        if when.2 {
            p.push(("query_lifetime", s("true")));
        }
        if !when.0.is_empty() {
            p.push(("start_date", s(when.0)));
            p.push(("end_date", s(when.1)));
        }
        p
    };
    for (name, report_type, level, dims, broken, fixed, fixed_dims) in cases {
        let rule = rules::REPORT_RULES
            .iter()
            .find(|r| r.name == *name)
            .unwrap();
        let body = c
            .get(
                "report/integrated/get/",
                &params(report_type, *level, dims, *broken),
            )
            .await;
        assert_eq!(body["code"], rule.code, "{name}: {body}");
        // The rule's message, naming the query's values where it does.
        let shape = rules::ReportShape {
            report_type: ReportType::from_api(report_type).unwrap(),
            level: *level,
            dimensions: serde_json::from_str(dims).unwrap(),
            time: rules::TimeDimension::None,
            has_country_code: false,
            lifetime: broken.2,
            start_date: None,
            end_date: None,
            hourly_audience_refused: true,
        };
        assert_eq!(body["message"], rule.message_for(&shape), "{name}");
        if *name == "hourly_audience_refused" {
            continue; // accepted only by a simulator told to serve it
        }
        let body = c
            .get(
                "report/integrated/get/",
                &params(
                    report_type,
                    *level,
                    if fixed_dims.is_empty() {
                        dims
                    } else {
                        fixed_dims
                    },
                    *fixed,
                ),
            )
            .await;
        assert_eq!(body["code"], 0, "{name} within the rule: {body}");
    }
    sim.shutdown().await;
}
