//! The reconciliation of the campaign, ad group and ad rows a run emits with the ledger's
//! advertiser-level totals, against a small server whose levels add up the way TikTok's do
//! (every level sums the rows of the ads under it; the advertiser totals count every buying
//! type the default scope holds and deleted ads) and switches that make them disagree: a row
//! one level leaves out, a buying type the levels leave out, totals over the ads cap that
//! cover only the newest ad, and deleted ads the levels leave out without `include_deleted`.
//! Consistent data stays silent and every compared day agrees; each disagreement gives one
//! warning per account and level naming the days, the figures and the likely cause, and
//! `Capture finished.` counts the account-days.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::{at, flow_in_process, sim_config, Session};

const ACCOUNT: u64 = 7_001_035_076_276_387_841;
/// An account that never delivered (in [`World::idle_account`] worlds).
const IDLE: u64 = 7_001_035_076_276_387_842;
const NOW: &str = "2026-11-05T12:00:00Z";
const START: &str = "2026-11-01";
/// The days compared: those over at [`NOW`] (UTC account), from [`START`].
const COMPARED_DAYS: u64 = 4;
const LEVEL_STREAMS: [&str; 4] = [
    "campaigns_reports_daily",
    "ad_groups_reports_daily",
    "ads_reports_daily",
    "reconciliation_daily",
];
/// The binding of `reconciliation_daily` in [`LEVEL_STREAMS`].
const RECONCILIATION: usize = 3;
const LEVELS: [&str; 3] = ["AUCTION_AD", "AUCTION_ADGROUP", "AUCTION_CAMPAIGN"];

/// An ad: its id, ad group, campaign, whether its campaign is reach & frequency or TopView,
/// and whether it is deleted.
#[derive(Clone, Copy)]
struct Ad {
    id: u64,
    adgroup: u64,
    campaign: u64,
    reach_frequency: bool,
    topview: bool,
    deleted: bool,
}

/// The TopView ad, in worlds that have one ([`World::topview`]).
const TOPVIEW_AD: Ad = Ad {
    id: 305,
    adgroup: 203,
    campaign: 103,
    reach_frequency: false,
    topview: true,
    deleted: false,
};

const ADS: [Ad; 5] = [
    Ad {
        id: 301,
        adgroup: 201,
        campaign: 101,
        reach_frequency: false,
        topview: false,
        deleted: false,
    },
    Ad {
        id: 302,
        adgroup: 201,
        campaign: 101,
        reach_frequency: false,
        topview: false,
        deleted: false,
    },
    Ad {
        id: 303,
        adgroup: 202,
        campaign: 102,
        reach_frequency: true,
        topview: false,
        deleted: false,
    },
    Ad {
        id: 304,
        adgroup: 201,
        campaign: 101,
        reach_frequency: false,
        topview: false,
        deleted: true,
    },
    TOPVIEW_AD,
];

/// How the server disagrees with itself.
#[derive(Clone, Default)]
struct World {
    /// Answers at this data level leave out their first row of this day.
    dropped: Option<(&'static str, NaiveDate)>,
    /// Campaign, ad group and ad answers leave out the reach & frequency ads.
    reach_frequency_hidden: bool,
    /// The ad count `ad/get/` gives, and advertiser totals that cover only the newest ad (as
    /// totals over the ads cap would, without `X-Tt-Ads-Throttle`).
    over_cap: bool,
    /// A TopView campaign with one ad, and whether the advertiser totals count its delivery.
    topview: Option<bool>,
    /// A second account, [`IDLE`], that never delivered.
    idle_account: bool,
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// An ad's figures on a day (cents, impressions, clicks); every ad delivers every day.
fn figures(ad: &Ad, d: NaiveDate) -> (u64, u64, u64) {
    let n = (d - day("2026-10-01")).num_days() as u64;
    (
        (ad.id * 7 + n * 13) % 500 + 100,
        ad.id % 100 + n * 10,
        (ad.id + n) % 7 + 1,
    )
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"code": 0, "message": "OK",
        "request_id": "test", "data": data}))
}

fn list(rows: Vec<Value>, total: usize) -> ResponseTemplate {
    ok(
        json!({"list": rows, "page_info": {"page": 1, "page_size": 1000,
        "total_number": total, "total_page": 1}}),
    )
}

/// A row's key field and sums (cents, impressions, clicks).
type Sums = (&'static str, u64, u64, u64);

struct Reports(World);

impl Respond for Reports {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let params: BTreeMap<String, String> = request.url.query_pairs().into_owned().collect();
        if params.get("advertiser_id") == Some(&IDLE.to_string()) {
            return list(Vec::new(), 0);
        }
        let level = params.get("data_level").cloned().unwrap_or_default();
        let filtering = params.get("filtering").cloned().unwrap_or_default();
        let topview_asked = filtering.contains("RESERVATION_TOP_VIEW");
        let deleted_wanted = filtering.contains("STATUS_ALL");
        let lifetime = params.get("query_lifetime").is_some_and(|v| v == "true");
        let days: Vec<NaiveDate> = if lifetime {
            Vec::new()
        } else {
            let (from, to) = (day(&params["start_date"]), day(&params["end_date"]));
            from.iter_days().take_while(|d| *d <= to).collect()
        };
        let world = &self.0;
        let counted = |ad: &Ad| match level.as_str() {
            _ if ad.topview && world.topview.is_none() => false,
            _ if ad.topview != topview_asked && level != "AUCTION_ADVERTISER" => false,
            "AUCTION_ADVERTISER" if ad.topview => world.topview == Some(true),
            "AUCTION_ADVERTISER" => !world.over_cap || ad.id == 302,
            "AUCTION_AD" => {
                !(world.reach_frequency_hidden && ad.reach_frequency)
                    && (deleted_wanted || !ad.deleted)
            }
            _ => !(world.reach_frequency_hidden && ad.reach_frequency),
        };
        let key = |ad: &Ad| -> (&'static str, u64) {
            match level.as_str() {
                "AUCTION_CAMPAIGN" => ("campaign_id", ad.campaign),
                "AUCTION_ADGROUP" => ("adgroup_id", ad.adgroup),
                "AUCTION_AD" => ("ad_id", ad.id),
                _ => ("advertiser_id", ACCOUNT),
            }
        };
        let mut sums: BTreeMap<(Option<NaiveDate>, u64), Sums> = BTreeMap::new();
        for ad in ADS.iter().filter(|a| counted(a)) {
            let (name, id) = key(ad);
            let buckets: Vec<Option<NaiveDate>> = if lifetime {
                vec![None]
            } else {
                days.iter().copied().map(Some).collect()
            };
            for bucket in buckets {
                let (cents, impressions, clicks) = match bucket {
                    Some(d) => figures(ad, d),
                    None => {
                        let all = day(START).iter_days().take(5);
                        all.map(|d| figures(ad, d))
                            .fold((0, 0, 0), |a, f| (a.0 + f.0, a.1 + f.1, a.2 + f.2))
                    }
                };
                let slot = sums.entry((bucket, id)).or_insert((name, 0, 0, 0));
                slot.1 += cents;
                slot.2 += impressions;
                slot.3 += clicks;
            }
        }
        let mut rows: Vec<Value> = Vec::new();
        let mut dropped = false;
        for ((bucket, id), (name, cents, impressions, clicks)) in sums {
            if let (Some((dropped_level, dropped_day)), Some(d)) = (world.dropped, bucket) {
                if dropped_level == level && dropped_day == d && !dropped {
                    dropped = true;
                    continue;
                }
            }
            rows.push(row(name, id, bucket, (cents, impressions, clicks)));
        }
        let total = rows.len();
        list(rows, total)
    }
}

/// One report row of an entity (and day, unless lifetime) with its figures.
fn row(
    name: &str,
    id: u64,
    bucket: Option<NaiveDate>,
    (cents, impressions, clicks): Figures,
) -> Value {
    let mut dimensions = json!({ name: id.to_string() });
    if let Some(d) = bucket {
        dimensions["stat_time_day"] = json!(format!("{d} 00:00:00"));
    }
    json!({"dimensions": dimensions, "metrics": {
        "spend": format!("{}.{:02}", cents / 100, cents % 100),
        "impressions": impressions.to_string(),
        "clicks": clicks.to_string(),
    }})
}

/// Cents, impressions, clicks.
type Figures = (u64, u64, u64);

struct Entities(World);

impl Respond for Entities {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let query = request.url.query().unwrap_or_default().to_string();
        let path = request.url.path();
        if query.contains("RESERVATION_TOP_VIEW") {
            if self.0.topview.is_none() {
                return list(Vec::new(), 0);
            }
            let row = json!({"campaign_id": TOPVIEW_AD.campaign.to_string(),
                "adgroup_id": TOPVIEW_AD.adgroup.to_string(), "ad_id": TOPVIEW_AD.id.to_string(),
                "advertiser_id": ACCOUNT.to_string(), "modify_time": "2026-10-01 00:00:00"});
            return list(vec![row], 1);
        }
        if !path.ends_with("ad/get/") {
            return list(Vec::new(), 0);
        }
        // Only the count is asked (page_size 1).
        list(
            Vec::new(),
            if self.0.over_cap {
                15_000
            } else {
                ADS.len() - 1
            },
        )
    }
}

async fn server(world: World) -> MockServer {
    let server = MockServer::start().await;
    let account = |id: u64| {
        json!({"advertiser_id": id.to_string(), "name": "acme", "timezone": "Etc/GMT",
            "display_timezone": "Etc/GMT", "create_time": 1_790_000_000})
    };
    let mut accounts = vec![account(ACCOUNT)];
    if world.idle_account {
        accounts.push(account(IDLE));
    }
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/advertiser/info/"))
        .respond_with(ok(json!({ "list": accounts })))
        .mount(&server)
        .await;
    for endpoint in ["campaign/get/", "adgroup/get/", "ad/get/"] {
        Mock::given(method("GET"))
            .and(path(format!("/open_api/v1.3/{endpoint}")))
            .respond_with(Entities(world.clone()))
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/open_api/v1.3/report/integrated/get/"))
        .respond_with(Reports(world))
        .mount(&server)
        .await;
    server
}

async fn run(world: World, include_deleted: bool, streams: &[&str]) -> Session {
    let mut accounts = vec![ACCOUNT.to_string()];
    if world.idle_account {
        accounts.push(IDLE.to_string());
    }
    let server = server(world).await;
    let cfg = sim_config(
        &server.uri(),
        START,
        json!({"include_deleted": include_deleted,
               "advanced": {"advertiser_ids": accounts}}),
    );
    let session = flow_in_process(&cfg, streams, &json!({}), at(NOW)).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    session
}

fn log_lines(session: &Session) -> Vec<Value> {
    crate::common::log_lines(&session.output.stderr)
}

fn warnings(session: &Session) -> Vec<Value> {
    crate::common::logs_saying(&session.output.stderr, "do not add up")
}

/// The `reconciliation_daily` records by level and day.
fn records(session: &Session) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (binding, doc) in &session.docs {
        if *binding != RECONCILIATION {
            continue;
        }
        assert_eq!(doc["advertiser_id"], ACCOUNT, "{doc}");
        let key = (
            doc["level"].as_str().unwrap().to_string(),
            doc["stat_time_day"].as_str().unwrap()[..10].to_string(),
        );
        assert!(out.insert(key, doc.clone()).is_none(), "a key twice: {doc}");
    }
    out
}

/// Asserts one record per level and day from START to the day after NOW's (reports read up to
/// tomorrow, for accounts east of UTC), the days not over not compared, and the verdict
/// `differing` names for the others (`agree` for the rest).
fn assert_verdicts(session: &Session, differing: &[(&str, &str)]) {
    let records = records(session);
    assert_eq!(records.len(), 3 * 6, "{records:?}");
    for level in LEVELS {
        for d in day(START).iter_days().take(6) {
            let d = d.to_string();
            let record = &records[&(level.to_string(), d.clone())];
            let expected = if d.as_str() >= "2026-11-05" {
                assert_eq!(record["reason"], "the day is not over yet", "{record}");
                "not_compared"
            } else if differing.contains(&(level, d.as_str())) {
                assert!(record["likely_cause"].is_string(), "{record}");
                "differ"
            } else {
                "agree"
            };
            assert_eq!(record["verdict"], expected, "{record}");
            if expected != "not_compared" {
                let ledger = record["ledger_totals"]["spend"].as_f64().unwrap();
                let level_sum = record["level_sums"]["spend"].as_f64().unwrap();
                let difference = record["differences"]["spend"].as_f64().unwrap();
                assert!((level_sum - ledger - difference).abs() < 1e-6, "{record}");
            }
        }
    }
}

/// The account-days reconciled and those that differ, from `Capture finished.`.
fn counts(session: &Session) -> (u64, u64) {
    let line = log_lines(session)
        .into_iter()
        .find(|l| l["message"] == "Capture finished.")
        .expect("a Capture finished. line");
    (
        line["reconciled_account_days"]
            .as_u64()
            .expect("reconciled"),
        line["differing_account_days"].as_u64().expect("differing"),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn levels_that_add_up_are_silent() {
    let session = run(World::default(), true, &LEVEL_STREAMS).await;
    assert!(warnings(&session).is_empty(), "{}", session.output.stderr);
    assert_eq!(counts(&session), (COMPARED_DAYS, 0));
    assert_verdicts(&session, &[]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_one_level_leaves_out_is_named_with_its_day_and_figures() {
    let world = World {
        dropped: Some(("AUCTION_AD", day("2026-11-02"))),
        ..World::default()
    };
    let session = run(world, true, &LEVEL_STREAMS).await;
    let warnings = warnings(&session);
    assert_eq!(warnings.len(), 1, "{}", session.output.stderr);
    let w = &warnings[0];
    assert_eq!(w["advertiser_id"], ACCOUNT, "{w}");
    assert_eq!(w["level"], "AUCTION_AD", "{w}");
    assert_eq!(w["stream"], "ads_reports_daily", "{w}");
    assert_eq!(w["days"], "2026-11-02", "{w}");
    // The first ad's row of that day: its spend is missing from the level's sum.
    let (cents, _, _) = figures(&ADS[0], day("2026-11-02"));
    let missing = w["ledger_value"].as_f64().unwrap() - w["level_sum"].as_f64().unwrap();
    assert!(
        (missing - cents as f64 / 100.0).abs() < 1e-6 || w["metric"] != "spend",
        "{w}"
    );
    assert!(missing > 0.0, "{w}");
    assert!(
        w["likely_cause"]
            .as_str()
            .unwrap()
            .starts_with("not known to the connector"),
        "{w}"
    );
    assert_eq!(counts(&session), (COMPARED_DAYS, 1));
    assert_verdicts(&session, &[("AUCTION_AD", "2026-11-02")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_buying_type_the_levels_leave_out_differs_at_every_level() {
    let world = World {
        reach_frequency_hidden: true,
        ..World::default()
    };
    let session = run(world, true, &LEVEL_STREAMS).await;
    let warnings = warnings(&session);
    assert_eq!(warnings.len(), 3, "{}", session.output.stderr);
    let mut levels: Vec<&str> = warnings
        .iter()
        .map(|w| w["level"].as_str().unwrap())
        .collect();
    levels.sort();
    assert_eq!(
        levels,
        ["AUCTION_AD", "AUCTION_ADGROUP", "AUCTION_CAMPAIGN"]
    );
    for w in &warnings {
        assert_eq!(w["days"], "2026-11-01..2026-11-04", "{w}");
        assert_eq!(w["differing_days"], COMPARED_DAYS, "{w}");
    }
    assert_eq!(counts(&session), (COMPARED_DAYS, COMPARED_DAYS));
    assert_verdicts(&session, &every_day(&LEVELS));
}

#[tokio::test(flavor = "multi_thread")]
async fn totals_over_the_ads_cap_name_the_cap() {
    let world = World {
        over_cap: true,
        ..World::default()
    };
    let session = run(world, true, &LEVEL_STREAMS).await;
    let warnings = warnings(&session);
    assert_eq!(warnings.len(), 3, "{}", session.output.stderr);
    for w in &warnings {
        assert!(
            w["likely_cause"].as_str().unwrap().contains("ads cap"),
            "{w}"
        );
        assert!(w["level_sum"].as_f64() > w["ledger_value"].as_f64(), "{w}");
    }
    assert_eq!(counts(&session), (COMPARED_DAYS, COMPARED_DAYS));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_ads_left_out_name_include_deleted() {
    let session = run(World::default(), false, &LEVEL_STREAMS).await;
    let warnings = warnings(&session);
    // Only the ad level leaves the deleted ad out: its campaign and ad group are not deleted.
    assert_eq!(warnings.len(), 1, "{}", session.output.stderr);
    let w = &warnings[0];
    assert_eq!(w["level"], "AUCTION_AD", "{w}");
    assert!(
        w["likely_cause"]
            .as_str()
            .unwrap()
            .starts_with("include_deleted is false"),
        "{w}"
    );
    assert_eq!(counts(&session), (COMPARED_DAYS, COMPARED_DAYS));
    assert_verdicts(&session, &every_day(&["AUCTION_AD"]));
}

/// A day still in progress is not compared: its delivery goes on between the reads.
#[tokio::test(flavor = "multi_thread")]
async fn the_day_in_progress_is_not_compared() {
    let world = World {
        dropped: Some(("AUCTION_AD", day("2026-11-05"))),
        ..World::default()
    };
    let session = run(world, true, &LEVEL_STREAMS).await;
    assert!(warnings(&session).is_empty(), "{}", session.output.stderr);
    assert_eq!(counts(&session), (COMPARED_DAYS, 0));
    assert_verdicts(&session, &[]);
}

/// Every compared day of these levels.
fn every_day(levels: &[&'static str]) -> Vec<(&'static str, &'static str)> {
    let days = ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"];
    levels
        .iter()
        .flat_map(|l| days.iter().map(move |d| (*l, *d)))
        .collect()
}

/// An account that never delivered is skipped at every level by the ledger: it has no
/// record (only the delivering account's records come), and nothing of it is counted.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_never_delivered_has_no_records() {
    let world = World {
        idle_account: true,
        ..World::default()
    };
    let session = run(world, true, &LEVEL_STREAMS).await;
    assert!(warnings(&session).is_empty(), "{}", session.output.stderr);
    assert_eq!(counts(&session), (COMPARED_DAYS, 0));
    assert_verdicts(&session, &[]);
}

/// TikTok's documents read both ways on whether the advertiser totals count TopView: either
/// way the levels (whose TopView rows come from a query of their own) agree with them.
#[tokio::test(flavor = "multi_thread")]
async fn totals_with_or_without_topview_agree() {
    for in_totals in [false, true] {
        let world = World {
            topview: Some(in_totals),
            ..World::default()
        };
        let session = run(world, true, &LEVEL_STREAMS).await;
        assert!(warnings(&session).is_empty(), "{}", session.output.stderr);
        assert_eq!(counts(&session), (COMPARED_DAYS, 0));
        assert_verdicts(&session, &[]);
        // The TopView ad's rows were emitted either way; they are summed only where the
        // totals count them.
        let topview_rows = session
            .docs
            .iter()
            .filter(|(_, doc)| doc["ad_id"] == TOPVIEW_AD.id)
            .count();
        assert_eq!(topview_rows, 6, "in_totals {in_totals}");
        let record = &records(&session)[&("AUCTION_AD".to_string(), "2026-11-02".to_string())];
        assert_eq!(record["rows"], if in_totals { 5 } else { 4 }, "{record}");
    }
}

/// Airbyte gets the same records: one `RECORD` per level and day of `reconciliation_daily`
/// (full refresh), the differing day among them.
#[tokio::test(flavor = "multi_thread")]
async fn airbyte_reads_the_reconciliation_records_too() {
    let world = World {
        dropped: Some(("AUCTION_ADGROUP", day("2026-11-03"))),
        ..World::default()
    };
    let server = server(world).await;
    let config = sim_config(
        &server.uri(),
        START,
        json!({"include_deleted": true,
               "advanced": {"advertiser_ids": [ACCOUNT.to_string()]}}),
    );
    let catalog = json!({"streams": LEVEL_STREAMS.iter().map(|s| {
        let mode = if *s == "reconciliation_daily" { "full_refresh" } else { "incremental" };
        json!({"stream": {"name": s, "json_schema": {},
                          "supported_sync_modes": ["full_refresh", "incremental"]},
               "sync_mode": mode, "destination_sync_mode": "append"})
    }).collect::<Vec<_>>()});
    let out = crate::common::read_in_process(&config, &catalog, None, at(NOW)).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let records: Vec<&Value> = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["record"]["stream"] == "reconciliation_daily")
        .map(|m| &m["record"]["data"])
        .collect();
    assert_eq!(records.len(), 3 * 6);
    let differing: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["verdict"] == "differ")
        .map(|r| {
            (
                r["level"].as_str().unwrap(),
                r["stat_time_day"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(differing, [("AUCTION_ADGROUP", "2026-11-03 00:00:00")]);
    let agreeing = records.iter().filter(|r| r["verdict"] == "agree").count();
    assert_eq!(agreeing as u64, 3 * COMPARED_DAYS - 1);
}
