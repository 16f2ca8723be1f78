//! The extra streams end to end against the simulated TikTok API: each sends its TikTok
//! request (endpoint, page size, JSON-encoded parameters, report
//! shape) and captures exactly the simulator's records; advertisers without pixel permission
//! are skipped with a warning.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{flow_session, sim_config};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, AssetKind, DataShape, SimConfig};

const LISTS: &[(&str, AssetKind, &str, &str)] = &[
    (
        "audiences",
        AssetKind::Audience,
        "dmp/custom_audience/list/",
        "100",
    ),
    (
        "creative_assets_images",
        AssetKind::Image,
        "file/image/ad/search/",
        "100",
    ),
    (
        "creative_assets_videos",
        AssetKind::Video,
        "file/video/ad/search/",
        "100",
    ),
    (
        "creative_assets_music",
        AssetKind::Music,
        "file/music/get/",
        "100",
    ),
    (
        "creative_assets_portfolios",
        AssetKind::Portfolio,
        "creative/portfolio/list/",
        "100",
    ),
    ("spark_ads", AssetKind::SparkPost, "tt_video/list/", "50"),
    ("pixels", AssetKind::Pixel, "pixel/list/", "20"),
];

/// (stream, data_level, report_type, dimensions, metric count)
const REPORTS: &[(&str, &str, &str, &str, usize)] = &[
    (
        "ads_reports_by_country_hourly",
        "AUCTION_AD",
        "BASIC",
        r#"["ad_id","stat_time_hour","country_code"]"#,
        83,
    ),
    (
        "ads_reports_by_country_daily",
        "AUCTION_AD",
        "BASIC",
        r#"["ad_id","stat_time_day","country_code"]"#,
        83,
    ),
    (
        "ad_groups_reports_by_country_hourly",
        "AUCTION_ADGROUP",
        "BASIC",
        r#"["adgroup_id","stat_time_hour","country_code"]"#,
        63,
    ),
    (
        "ad_groups_reports_by_country_daily",
        "AUCTION_ADGROUP",
        "BASIC",
        r#"["adgroup_id","stat_time_day","country_code"]"#,
        63,
    ),
    (
        "campaigns_audience_reports_daily",
        "AUCTION_CAMPAIGN",
        "AUDIENCE",
        r#"["campaign_id","stat_time_day","gender","age"]"#,
        31,
    ),
    (
        "campaigns_audience_reports_by_platform_daily",
        "AUCTION_CAMPAIGN",
        "AUDIENCE",
        r#"["campaign_id","stat_time_day","platform"]"#,
        31,
    ),
    (
        "ad_group_audience_reports_by_country_daily",
        "AUCTION_ADGROUP",
        "AUDIENCE",
        r#"["adgroup_id","stat_time_day","country_code"]"#,
        39,
    ),
    (
        "ad_group_audience_reports_by_platform_daily",
        "AUCTION_ADGROUP",
        "AUDIENCE",
        r#"["adgroup_id","stat_time_day","platform"]"#,
        39,
    ),
    (
        "ads_audience_reports_by_country_daily",
        "AUCTION_AD",
        "AUDIENCE",
        r#"["ad_id","stat_time_day","country_code"]"#,
        42,
    ),
    (
        "ads_audience_reports_by_platform_daily",
        "AUCTION_AD",
        "AUDIENCE",
        r#"["ad_id","stat_time_day","platform"]"#,
        42,
    ),
    (
        "ads_audience_reports_by_province_daily",
        "AUCTION_AD",
        "AUDIENCE",
        r#"["ad_id","stat_time_day","province_id"]"#,
        42,
    ),
    (
        "advertisers_audience_reports_by_country_daily",
        "AUCTION_ADVERTISER",
        "AUDIENCE",
        r#"["advertiser_id","stat_time_day","country_code"]"#,
        6,
    ),
    (
        "advertisers_audience_reports_by_platform_daily",
        "AUCTION_ADVERTISER",
        "AUDIENCE",
        r#"["advertiser_id","stat_time_day","platform"]"#,
        6,
    ),
];

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn extra_streams_send_the_documented_requests_and_capture_the_models_records() {
    // Four advertisers: the fourth has no pixel permission.
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 4,
            days: 2,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let today = chrono::Utc::now().date_naive();
    let cfg = sim_config(
        &sim.base_url(),
        &today.to_string(),
        json!({"end_date": today.to_string()}),
    );
    let mut streams: Vec<&'static str> = LISTS.iter().map(|l| l.0).collect();
    streams.extend(["pixel_instant_page_events", "pixel_events_statistics"]);
    streams.extend(REPORTS.iter().map(|r| r.0));
    let session = tokio::task::spawn_blocking({
        let streams = streams.clone();
        move || flow_session(&cfg, &streams, &json!({}), &[])
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let requests = sim.requests();
    let advertisers = sim.model().advertiser_ids();
    let denied: Vec<u64> = advertisers
        .iter()
        .copied()
        .filter(|a| !sim.model().pixel_permission(*a))
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(session
        .output
        .stderr
        .contains("Skipping an advertiser this token cannot read"));

    // Lists: parameters, page size, and exactly the model's records.
    for (binding, (stream, kind, path, page_size)) in LISTS.iter().enumerate() {
        let mine: Vec<_> = requests.iter().filter(|r| r.path == *path).collect();
        assert!(!mine.is_empty(), "{stream}: no request");
        for r in &mine {
            let keys: BTreeSet<&str> = r.params.keys().map(String::as_str).collect();
            assert_eq!(
                keys,
                BTreeSet::from(["advertiser_id", "page", "page_size"]),
                "{stream}"
            );
            assert_eq!(r.params["page_size"], *page_size, "{stream}");
        }
        let field = kind.id_field();
        let mut expected = BTreeSet::new();
        for a in &advertisers {
            for record in sim.model().assets(*kind, *a).unwrap_or_default() {
                let id = if *stream == "spark_ads" {
                    &record["item_info"]["item_id"]
                } else {
                    &record[field]
                };
                expected.insert(id_text(id));
            }
        }
        let key = if *stream == "spark_ads" {
            "spark_ads_post_id"
        } else {
            field
        };
        let got: BTreeSet<String> = session
            .docs
            .iter()
            .filter(|(b, _)| *b == binding)
            .map(|(_, d)| id_text(&d[key]))
            .collect();
        assert!(!expected.is_empty(), "{stream}: the model has nothing");
        assert_eq!(got, expected, "{stream}");
    }

    // Instant page events: every objective x goal for each permitted advertiser, skipped
    // combinations included in the requests, records only for supported ones.
    let instant: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "pixel/instant_page/event/")
        .collect();
    let per_advertiser: BTreeMap<&String, usize> =
        instant.iter().fold(BTreeMap::new(), |mut m, r| {
            *m.entry(&r.params["advertiser_id"]).or_insert(0) += 1;
            m
        });
    assert_eq!(per_advertiser.len(), advertisers.len());
    for (advertiser, n) in &per_advertiser {
        if denied.iter().any(|d| &&d.to_string() == advertiser) {
            // Refused at once: only the combinations already in flight were asked.
            assert!(
                (1..=4).contains(n),
                "{advertiser}: {n} requests after a refusal"
            );
        } else {
            assert_eq!(*n, 220, "{advertiser}: 10 objectives x 22 goals");
        }
    }
    let instant_docs = session
        .docs
        .iter()
        .filter(|(b, _)| *b == LISTS.len())
        .count();
    let mut expected_events = 0;
    for a in advertisers.iter().filter(|a| !denied.contains(a)) {
        for o in simulator::OBJECTIVE_TYPES {
            for g in simulator::OPTIMIZATION_GOALS {
                expected_events += sim
                    .model()
                    .instant_page_events(*a, o, g)
                    .map(|v| v.len())
                    .unwrap_or(0);
            }
        }
    }
    assert!(expected_events > 0);
    assert_eq!(instant_docs, expected_events);

    // Pixel statistics: pixel_ids as a JSON array, date_range as a JSON object of 30 days.
    let stats: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "pixel/event/stats/" && r.code == 0)
        .collect();
    assert!(!stats.is_empty());
    for r in &stats {
        let ids: Value = serde_json::from_str(&r.params["pixel_ids"]).unwrap();
        assert!(
            ids.as_array()
                .is_some_and(|a| a.len() == 1 && a[0].is_string()),
            "{ids}"
        );
        let range: Value = serde_json::from_str(&r.params["date_range"]).unwrap();
        assert_eq!(range["end_date"], today.to_string());
        assert_eq!(
            range["start_date"],
            (today - chrono::Days::new(29)).to_string()
        );
    }
    let stats_docs = session
        .docs
        .iter()
        .filter(|(b, _)| *b == LISTS.len() + 1)
        .count();
    assert!(stats_docs > 0);

    // Reports: data level, report type, dimensions, metric count, status filter.
    let reports: Vec<_> = requests
        .iter()
        .filter(|r| r.path == "report/integrated/get/")
        .collect();
    for (offset, (stream, level, kind, dims, count)) in REPORTS.iter().enumerate() {
        let dims_value: Value = serde_json::from_str(dims).unwrap();
        let mine: Vec<_> = reports
            .iter()
            .filter(|r| {
                r.params["data_level"] == *level
                    && r.params["report_type"] == *kind
                    && serde_json::from_str::<Value>(&r.params["dimensions"]).unwrap() == dims_value
            })
            .collect();
        assert!(!mine.is_empty(), "{stream}: no request");
        let metrics: Vec<String> = serde_json::from_str(&mine[0].params["metrics"]).unwrap();
        assert_eq!(metrics.len(), *count, "{stream}");
        if *level != "AUCTION_ADVERTISER" {
            let status = format!(
                "{}_status",
                level.trim_start_matches("AUCTION_").to_lowercase()
            );
            assert!(
                mine[0].params["filtering"].contains(&status),
                "{stream}: {}",
                mine[0].params["filtering"]
            );
        }
        let binding = LISTS.len() + 2 + offset;
        assert!(
            session.docs.iter().any(|(b, _)| *b == binding),
            "{stream} captured nothing"
        );
    }
}
