//! Report resources end to end against the simulated TikTok API: every report kind captures
//! exactly the rows the simulator's model holds for the configured dates (count and keys), for
//! several advertisers, across window boundaries and with several pages per window; a second
//! run re-reads only the lookback window; each of the 21 report resources sends the query of
//! its data level, report type, dimensions and metrics; hourly audience refusals leave an empty binding.

use std::collections::BTreeMap;

use crate::common::{at, flow_in_process, flow_session, sim_config};
use chrono::{Days, NaiveDate};
use serde_json::{json, Value};
use source_tiktok_marketing::capture::report::{filtering, totals_window, BuyingScope};
use source_tiktok_marketing::config;
use source_tiktok_marketing::protocol::RunOptions;
use source_tiktok_marketing::registry::{self, metrics::Granularity};
use tiktok_sim::{self as simulator, ApiBehaviour, DataShape, ReportQuery, SimConfig};

fn key_of(row: &Value, dims: &[String]) -> String {
    dims.iter()
        .map(|d| match &row[d] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// The keys of the rows the model holds for a stream over [start, end] (every day queried
/// alone, which the model accepts for daily and hourly alike), per advertiser.
fn model_keys(
    sim: &simulator::SimHandle,
    cfg: &Value,
    stream: &str,
    start: NaiveDate,
    end: NaiveDate,
) -> BTreeMap<String, usize> {
    let config = config::parse(cfg).unwrap();
    let resolved = registry::resolve(stream, &config).unwrap();
    let spec = resolved.report().unwrap().clone();
    // Auction and reach & frequency delivery, and TopView's (asked with its own filter below
    // the advertiser level, which holds every buying type).
    let mut scopes = vec![filtering(&spec, true, None)];
    if spec.level != source_tiktok_marketing::registry::metrics::Level::Advertiser {
        let mut topview = filtering(&spec, true, None);
        topview.extend(BuyingScope::TopView.report_filter());
        scopes.push(topview);
    }
    let mut keys = BTreeMap::new();
    for advertiser in sim.model().advertiser_ids() {
        let mut queries = Vec::new();
        if spec.uses_query_lifetime() {
            queries.push((None, None, true));
        } else if spec.granularity == Granularity::Lifetime {
            // Totals TikTok has no lifetime metrics for: the 365 days ending today.
            let (s, e) = totals_window(end);
            queries.push((Some(s), Some(e), false));
        } else {
            let mut day = start;
            while day <= end {
                queries.push((Some(day), Some(day), false));
                day = day.succ_opt().unwrap();
            }
        }
        for ((s, e, lifetime), filters) in queries
            .iter()
            .flat_map(|q| scopes.iter().map(move |f| (*q, f)))
        {
            let rows = sim
                .model()
                .report_rows(&ReportQuery {
                    advertiser_id: advertiser,
                    report_type: sim_report_type(&spec),
                    level: sim_level(&spec),
                    dimensions: spec.dimensions.clone(),
                    metrics: spec.metrics.clone(),
                    start_date: s,
                    end_date: e,
                    lifetime,
                    filtering: filters.clone(),
                })
                .unwrap_or_default();
            for row in rows {
                let key = format!(
                    "{advertiser}|{}",
                    key_of(&row["dimensions"], &spec.dimensions)
                );
                *keys.entry(key).or_insert(0) += 1;
            }
        }
    }
    keys
}

fn captured_keys(
    docs: &[(usize, Value)],
    binding: usize,
    dims: &[String],
) -> BTreeMap<String, usize> {
    let mut keys = BTreeMap::new();
    for (_, doc) in docs.iter().filter(|(b, _)| *b == binding) {
        let key = format!("{}|{}", doc["advertiser_id"], key_of(doc, dims));
        *keys.entry(key).or_insert(0) += 1;
    }
    keys
}

#[tokio::test(flavor = "multi_thread")]
async fn every_report_kind_captures_exactly_the_models_rows() {
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 2,
            campaigns_per_advertiser: 3,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 40,
            days: 45,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let today = sim
        .model()
        .first_day()
        .checked_add_days(Days::new(44))
        .unwrap();
    // Daily streams over all 45 days (two windows); hourly ones over the last two days.
    let daily_start = sim.model().first_day();
    let hourly_start = today.pred_opt().unwrap();
    let cases: &[(&[&str], NaiveDate)] = &[
        (
            &[
                "ads_reports_daily",
                "ad_groups_reports_daily",
                "advertisers_reports_daily",
                "ads_audience_reports_daily",
                "campaigns_audience_reports_by_country_daily",
                "ads_reports_lifetime",
                "advertisers_audience_reports_lifetime",
                "campaigns_reports_lifetime",
            ],
            daily_start,
        ),
        (
            &[
                "ads_reports_hourly",
                "campaigns_reports_hourly",
                "advertisers_reports_hourly",
            ],
            hourly_start,
        ),
    ];
    // Noon UTC: the same day in both advertisers' time zones (UTC-8 and UTC).
    let noon = format!("{today}T12:00:00Z");
    for (streams, start) in cases {
        let cfg = sim_config(&sim.base_url(), &start.to_string(), json!({}));
        let session = flow_in_process(&cfg, streams, &json!({}), at(&noon)).await;
        assert_eq!(session.output.code, 0, "{}", session.output.stderr);
        for (binding, stream) in streams.iter().enumerate() {
            let config = config::parse(&cfg).unwrap();
            let dims = registry::resolve(stream, &config).unwrap().key;
            let expected = model_keys(&sim, &cfg, stream, *start, today);
            let got = captured_keys(&session.docs, binding, &dims);
            assert!(!expected.is_empty(), "{stream}: the model has no rows");
            let missing: Vec<&String> = expected
                .keys()
                .filter(|k| !got.contains_key(*k))
                .take(3)
                .collect();
            let extra: Vec<&String> = got
                .keys()
                .filter(|k| !expected.contains_key(*k))
                .take(3)
                .collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{stream}: missing {missing:?}, extra {extra:?}"
            );
            assert_eq!(got, expected, "{stream}: counts differ");
        }
    }
    // More than one page per window really happened for the ad-level daily report.
    let pages = sim
        .requests()
        .iter()
        .filter(|r| {
            r.path == "report/integrated/get/" && r.params.get("page").is_some_and(|p| p != "1")
        })
        .count();
    assert!(pages > 0, "no window needed a second page");
    // And the daily windows crossed the 30-day boundary: two windows per advertiser.
    let daily_windows = sim
        .requests()
        .iter()
        .filter(|r| {
            r.params
                .get("data_level")
                .is_some_and(|l| l == "AUCTION_AD")
                && r.params["dimensions"] == r#"["ad_id","stat_time_day"]"#
                && r.params.get("page").is_none_or(|p| p == "1")
                && !is_topview(r)
        })
        .count();
    assert_eq!(daily_windows, 4, "two advertisers x two windows");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_rereads_only_the_lookback_window() {
    let today = NaiveDate::from_ymd_opt(2024, 6, 30).unwrap();
    let sim = simulator::spawn(SimConfig {
        today,
        record_requests: true,
        data: DataShape {
            days: 40,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let start = sim.model().first_day();
    let cfg = sim_config(
        &sim.base_url(),
        &start.to_string(),
        json!({"advanced": {"lookback_days": 3}}),
    );
    let streams = ["ads_reports_daily", "ads_reports_hourly"];
    // Noon UTC: June 30 is in progress for both advertisers (UTC-8 and UTC).
    let noon = "2024-06-30T12:00:00Z";
    let first = flow_in_process(&cfg, &streams, &json!({}), at(noon)).await;
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    let before = sim.requests().len();
    let first_reports = sim
        .requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params["data_level"] == "AUCTION_AD")
        .count();
    let second = flow_in_process(&cfg, &streams, &first.state, at(noon)).await;
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    // The cursor stopped at the last complete day (June 29); the lookback counts from there, and
    // the day in progress is read again too.
    let tomorrow = today.succ_opt().unwrap();
    let last_complete = today.pred_opt().unwrap();
    let lookback_start = last_complete.checked_sub_days(Days::new(3)).unwrap();
    // The ad-level reports' own requests (the activity index asks at advertiser level).
    let again: Vec<_> = sim.requests()[before..]
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params["data_level"] == "AUCTION_AD")
        .cloned()
        .collect();
    assert!(!again.is_empty());
    assert!(
        again.len() * 4 < first_reports,
        "{} requests again vs {first_reports}",
        again.len()
    );
    for request in &again {
        let s: NaiveDate = request.params["start_date"].parse().unwrap();
        let e: NaiveDate = request.params["end_date"].parse().unwrap();
        assert!(
            s >= lookback_start && e <= tomorrow,
            "re-read {s}..{e}, lookback starts {lookback_start}"
        );
    }
    // Daily: one window per advertiser from the lookback start; hourly: one request per day.
    let daily: Vec<_> = again
        .iter()
        .filter(|r| {
            r.params["dimensions"].contains("stat_time_day")
                && r.params.get("page").is_none_or(|p| p == "1")
                && !is_topview(r)
        })
        .collect();
    assert_eq!(daily.len(), 2, "{daily:?}");
    assert!(daily
        .iter()
        .all(|r| r.params["start_date"] == lookback_start.to_string()));
    let hourly_days = again
        .iter()
        .filter(|r| r.params["dimensions"].contains("stat_time_hour") && !is_topview(r))
        .count();
    // From the lookback start (June 26) to tomorrow (July 1), but tomorrow has no delivery
    // yet, so the activity index leaves it out: five days.
    assert_eq!(
        hourly_days,
        2 * 5,
        "two advertisers x five days (June 26 to 30)"
    );
}

/// What each report resource asks TikTok for: data level, report type, dimensions, metric count, first and last
/// metric, status filter field, per resource.
/// (stream, data_level, report_type, dimensions, metric count, first metric, last metric,
/// status filter field)
type ExpectedQuery = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    usize,
    &'static str,
    &'static str,
    Option<&'static str>,
);

const EXPECTED: &[ExpectedQuery] = &[
    (
        "ads_reports_hourly",
        "AUCTION_AD",
        "BASIC",
        r#"["ad_id","stat_time_hour"]"#,
        86,
        "campaign_name",
        "onsite_shopping_roas",
        Some("ad_status"),
    ),
    (
        "ads_reports_daily",
        "AUCTION_AD",
        "BASIC",
        r#"["ad_id","stat_time_day"]"#,
        86,
        "campaign_name",
        "onsite_shopping_roas",
        Some("ad_status"),
    ),
    (
        "ads_reports_lifetime",
        "AUCTION_AD",
        "BASIC",
        r#"["ad_id"]"#,
        86,
        "campaign_name",
        "onsite_shopping_roas",
        Some("ad_status"),
    ),
    (
        "ad_groups_reports_hourly",
        "AUCTION_ADGROUP",
        "BASIC",
        r#"["adgroup_id","stat_time_hour"]"#,
        63,
        "campaign_name",
        "onsite_shopping_roas",
        Some("adgroup_status"),
    ),
    (
        "ad_groups_reports_daily",
        "AUCTION_ADGROUP",
        "BASIC",
        r#"["adgroup_id","stat_time_day"]"#,
        63,
        "campaign_name",
        "onsite_shopping_roas",
        Some("adgroup_status"),
    ),
    (
        "ad_groups_reports_lifetime",
        "AUCTION_ADGROUP",
        "BASIC",
        r#"["adgroup_id"]"#,
        63,
        "campaign_name",
        "onsite_shopping_roas",
        Some("adgroup_status"),
    ),
    (
        "campaigns_reports_hourly",
        "AUCTION_CAMPAIGN",
        "BASIC",
        r#"["campaign_id","stat_time_hour"]"#,
        55,
        "campaign_name",
        "onsite_shopping_roas",
        Some("campaign_status"),
    ),
    (
        "campaigns_reports_daily",
        "AUCTION_CAMPAIGN",
        "BASIC",
        r#"["campaign_id","stat_time_day"]"#,
        55,
        "campaign_name",
        "onsite_shopping_roas",
        Some("campaign_status"),
    ),
    (
        "campaigns_reports_lifetime",
        "AUCTION_CAMPAIGN",
        "BASIC",
        r#"["campaign_id"]"#,
        55,
        "campaign_name",
        "onsite_shopping_roas",
        Some("campaign_status"),
    ),
    (
        "advertisers_reports_hourly",
        "AUCTION_ADVERTISER",
        "BASIC",
        r#"["advertiser_id","stat_time_hour"]"#,
        27,
        "spend",
        "app_install",
        None,
    ),
    (
        "advertisers_reports_daily",
        "AUCTION_ADVERTISER",
        "BASIC",
        r#"["advertiser_id","stat_time_day"]"#,
        29,
        "cash_spend",
        "app_install",
        None,
    ),
    (
        "advertisers_reports_lifetime",
        "AUCTION_ADVERTISER",
        "BASIC",
        r#"["advertiser_id"]"#,
        27,
        "spend",
        "app_install",
        None,
    ),
    (
        "advertisers_audience_reports_hourly",
        "AUCTION_ADVERTISER",
        "AUDIENCE",
        r#"["advertiser_id","stat_time_hour","gender","age"]"#,
        6,
        "spend",
        "ctr",
        None,
    ),
    (
        "advertisers_audience_reports_daily",
        "AUCTION_ADVERTISER",
        "AUDIENCE",
        r#"["advertiser_id","stat_time_day","gender","age"]"#,
        6,
        "spend",
        "ctr",
        None,
    ),
    (
        "advertisers_audience_reports_lifetime",
        "AUCTION_ADVERTISER",
        "AUDIENCE",
        r#"["advertiser_id","gender","age"]"#,
        6,
        "spend",
        "ctr",
        None,
    ),
    (
        "ad_group_audience_reports_hourly",
        "AUCTION_ADGROUP",
        "AUDIENCE",
        r#"["adgroup_id","stat_time_hour","gender","age"]"#,
        39,
        "campaign_name",
        "onsite_shopping_roas",
        Some("adgroup_status"),
    ),
    (
        "ad_group_audience_reports_daily",
        "AUCTION_ADGROUP",
        "AUDIENCE",
        r#"["adgroup_id","stat_time_day","gender","age"]"#,
        39,
        "campaign_name",
        "onsite_shopping_roas",
        Some("adgroup_status"),
    ),
    (
        "ads_audience_reports_hourly",
        "AUCTION_AD",
        "AUDIENCE",
        r#"["ad_id","stat_time_hour","gender","age"]"#,
        42,
        "campaign_name",
        "onsite_shopping_roas",
        Some("ad_status"),
    ),
    (
        "ads_audience_reports_daily",
        "AUCTION_AD",
        "AUDIENCE",
        r#"["ad_id","stat_time_day","gender","age"]"#,
        42,
        "campaign_name",
        "onsite_shopping_roas",
        Some("ad_status"),
    ),
    (
        "campaigns_audience_reports_by_country_hourly",
        "AUCTION_CAMPAIGN",
        "AUDIENCE",
        r#"["campaign_id","stat_time_hour","country_code"]"#,
        31,
        "campaign_name",
        "onsite_shopping_roas",
        Some("campaign_status"),
    ),
    (
        "campaigns_audience_reports_by_country_daily",
        "AUCTION_CAMPAIGN",
        "AUDIENCE",
        r#"["campaign_id","stat_time_day","country_code"]"#,
        31,
        "campaign_name",
        "onsite_shopping_roas",
        Some("campaign_status"),
    ),
];

#[tokio::test(flavor = "multi_thread")]
async fn each_report_resource_sends_the_documented_query() {
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            days: 3,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let today = sim
        .model()
        .first_day()
        .checked_add_days(Days::new(2))
        .unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        &today.to_string(),
        json!({"end_date": today.to_string()}),
    );
    let streams: Vec<&'static str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(streams.len(), 21);
    // Only the streams' own queries: no activity index, whose query is advertiser-level too.
    let noon = format!("{today}T12:00:00Z");
    let options = RunOptions {
        no_activity_index: true,
        ..at(&noon)
    };
    let session = flow_in_process(&cfg, &streams, &json!({}), options).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let requests: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "report/integrated/get/")
        .collect();
    for (stream, level, kind, dims, count, first, last, status) in EXPECTED {
        let dims_value: Value = serde_json::from_str(dims).unwrap();
        let mine: Vec<_> = requests
            .iter()
            .filter(|r| {
                r.params["data_level"] == *level
                    && r.params["report_type"] == *kind
                    && serde_json::from_str::<Value>(&r.params["dimensions"]).unwrap() == dims_value
            })
            .collect();
        assert_eq!(mine.len(), 1, "{stream}: {} requests", mine.len());
        let p = &mine[0].params;
        assert_eq!(p["service_type"], "AUCTION", "{stream}");
        assert_eq!(p["page_size"], "1000", "{stream}");
        let metrics: Vec<String> = serde_json::from_str(&p["metrics"]).unwrap();
        assert_eq!(metrics.len(), *count, "{stream}");
        assert_eq!(metrics.first().unwrap(), first, "{stream}");
        assert_eq!(metrics.last().unwrap(), last, "{stream}");
        let filtering: Value = p
            .get("filtering")
            .map(|f| serde_json::from_str(f).unwrap())
            .unwrap_or(json!([]));
        match status {
            Some(field) => assert_eq!(
                filtering,
                json!([{"field_name": field, "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"}]),
                "{stream}"
            ),
            None => assert_eq!(filtering, json!([]), "{stream}"),
        }
        if stream.ends_with("_lifetime") && *kind == "AUDIENCE" {
            // TikTok has no lifetime audience metrics: totals over the 365 days ending today.
            assert!(!p.contains_key("query_lifetime"), "{stream}");
            let (start, end) = totals_window(today);
            assert_eq!(p["start_date"], start.to_string(), "{stream}");
            assert_eq!(p["end_date"], end.to_string(), "{stream}");
            assert_eq!((end - start).num_days(), 364, "{stream}");
        } else if stream.ends_with("_lifetime") {
            assert_eq!(p["query_lifetime"], "true", "{stream}");
            assert!(!p.contains_key("start_date"), "{stream}");
        } else {
            assert_eq!(p["start_date"], today.to_string(), "{stream}");
            assert_eq!(p["end_date"], today.to_string(), "{stream}");
        }
    }
    // Today's API refuses hourly audience queries: those bindings are empty, nothing failed.
    for (binding, stream) in EXPECTED.iter().map(|e| e.0).enumerate() {
        let n = session.docs.iter().filter(|(b, _)| *b == binding).count();
        if stream.contains("audience") && stream.ends_with("_hourly") {
            assert_eq!(n, 0, "{stream}");
        } else {
            assert!(n > 0, "{stream} captured nothing");
        }
    }
    let warnings = session
        .output
        .stderr
        .lines()
        .filter(|l| l.contains("refuses audience reports by hour"))
        .count();
    assert_eq!(warnings, 4, "one warning per refused binding");
}

/// One auction-only account of 21,000 ads (21 campaigns of 10 ad groups of 100 ads) over two
/// days: one query past TikTok's 20,000-ads cap.
fn over_cap_account() -> SimConfig {
    SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 21,
            adgroups_per_campaign: 10,
            ads_per_adgroup: 100,
            days: 2,
            auction_only_every: 1,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ad_level_reports_over_the_ads_cap_are_split_from_the_ad_count_and_lose_no_row() {
    // 21,000 ads in one account (some without rows): one query would process only the 20,000
    // most recently created. The ad count foresees it, so no answer is ever capped.
    let sim = simulator::spawn(over_cap_account()).await.unwrap();
    let today = sim.model().first_day().succ_opt().unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        &today.to_string(),
        json!({"end_date": today.to_string()}),
    );
    let session = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || flow_session(&cfg, &["ads_reports_lifetime"], &json!({}), &[])
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    // The model's rows, asked campaign by campaign (each far under the limit).
    let config = config::parse(&cfg).unwrap();
    let spec = registry::resolve("ads_reports_lifetime", &config)
        .unwrap()
        .report()
        .unwrap()
        .clone();
    let advertiser = sim.model().advertiser_ids()[0];
    let mut expected = std::collections::BTreeSet::new();
    let campaigns: std::collections::BTreeSet<String> = sim
        .model()
        .entities(simulator::EntityKind::Campaign, advertiser, true)
        .iter()
        .map(|c| c["campaign_id"].as_str().unwrap().to_string())
        .collect();
    for campaign in campaigns {
        let mut filters = filtering(&spec, true, None);
        filters.push(json!({"field_name": "campaign_ids", "filter_type": "IN",
                            "filter_value": json!([campaign]).to_string()}));
        let rows = sim
            .model()
            .report_rows(&ReportQuery {
                advertiser_id: advertiser,
                report_type: sim_report_type(&spec),
                level: sim_level(&spec),
                dimensions: spec.dimensions.clone(),
                metrics: spec.metrics.clone(),
                start_date: None,
                end_date: None,
                lifetime: true,
                filtering: filters,
            })
            .unwrap();
        expected.extend(
            rows.iter()
                .map(|r| r["dimensions"]["ad_id"].as_str().unwrap().to_string()),
        );
    }
    assert!(expected.len() > 20_000, "{} ads with rows", expected.len());
    let got: std::collections::BTreeSet<String> = session
        .docs
        .iter()
        .map(|(_, d)| d["ad_id"].to_string())
        .collect();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "captured ads differ from the model's");
    let queries = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "report/integrated/get/" && r.params.get("page").is_none_or(|p| p == "1")
        })
        .count();
    assert!(queries >= 2, "the report was not split ({queries} queries)");
    let capped: Vec<_> = sim
        .requests()
        .into_iter()
        // The activity index's advertiser-level query may be capped: it then reads every day.
        .filter(|r| {
            (r.ads_throttled || r.code != 0) && r.params["data_level"] != "AUCTION_ADVERTISER"
        })
        .collect();
    assert!(capped.is_empty(), "capped or refused answers: {capped:?}");
}

/// A TopView query (asked besides the auction one for advertisers with TopView ads).
fn is_topview(r: &simulator::RecordedRequest) -> bool {
    r.params
        .get("filtering")
        .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))
}

/// The simulator's own name for a stream's report type (it shares no types with the connector).
fn sim_report_type(
    spec: &source_tiktok_marketing::registry::ReportSpec,
) -> tiktok_sim::catalog::ReportType {
    tiktok_sim::catalog::ReportType::from_api(spec.report_type.as_api()).unwrap()
}

/// The simulator's own name for a stream's report level.
fn sim_level(spec: &source_tiktok_marketing::registry::ReportSpec) -> tiktok_sim::catalog::Level {
    tiktok_sim::catalog::Level::from_data_level(spec.level.data_level()).unwrap()
}

/// The cap at the campaign and ad group levels, foreseen from the ad count: the reports are split
/// by campaign (whole campaigns where they fit), no answer is capped, and every row holds the
/// whole figures of its entity.
#[tokio::test(flavor = "multi_thread")]
async fn campaign_and_ad_group_reports_over_the_ads_cap_are_split_and_whole() {
    let account = over_cap_account();
    let sim = simulator::spawn(account.clone()).await.unwrap();
    let truth = simulator::Model::new(&SimConfig {
        api: ApiBehaviour {
            ads_cap: usize::MAX,
            ..account.api
        },
        ..account
    });
    let today = sim.model().first_day().succ_opt().unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        &today.to_string(),
        json!({"end_date": today.to_string()}),
    );
    let streams = ["campaigns_reports_lifetime", "ad_groups_reports_lifetime"];
    let session = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        move || flow_session(&cfg, &streams, &json!({}), &[])
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let config = config::parse(&cfg).unwrap();
    let advertiser = sim.model().advertiser_ids()[0];
    for (binding, stream) in streams.iter().enumerate() {
        let spec = registry::resolve(stream, &config)
            .unwrap()
            .report()
            .unwrap()
            .clone();
        let query = ReportQuery {
            advertiser_id: advertiser,
            report_type: sim_report_type(&spec),
            level: sim_level(&spec),
            dimensions: spec.dimensions.clone(),
            metrics: spec.metrics.clone(),
            start_date: None,
            end_date: None,
            lifetime: true,
            filtering: filtering(&spec, true, None),
        };
        let id = spec.level.id_field();
        let figures = |rows: Vec<Value>| -> BTreeMap<String, String> {
            rows.iter()
                .map(|r| {
                    (
                        r["dimensions"][id]
                            .to_string()
                            .trim_matches('"')
                            .to_string(),
                        r["metrics"]["impressions"]
                            .to_string()
                            .trim_matches('"')
                            .to_string(),
                    )
                })
                .collect()
        };
        let expected = figures(truth.report_rows(&query).unwrap());
        let capped = figures(sim.model().report_rows(&query).unwrap());
        assert_ne!(
            expected, capped,
            "{stream}: one query would have been partial"
        );
        let got = figures(
            session
                .docs
                .iter()
                .filter(|(b, _)| *b == binding)
                .map(|(_, d)| d.clone())
                .collect(),
        );
        assert_eq!(got, expected, "{stream}");
        let queries = sim
            .requests()
            .into_iter()
            .filter(|r| {
                r.path == "report/integrated/get/"
                    && r.params["data_level"] == spec.level.data_level()
            })
            .count();
        assert!(queries >= 2, "{stream} was not split ({queries} queries)");
    }
    let bad: Vec<_> = sim
        .requests()
        .into_iter()
        // The activity index's advertiser-level query may be capped: it then reads every day.
        .filter(|r| {
            (r.ads_throttled || r.code != 0) && r.params["data_level"] != "AUCTION_ADVERTISER"
        })
        .collect();
    assert!(bad.is_empty(), "capped or refused answers: {bad:?}");
}
