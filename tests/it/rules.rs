//! Requests within TikTok's documented rules, against the simulated API with its rules on: the
//! day in progress is read again whatever lookback_days says (across a day boundary, east and
//! west of UTC, with the clock fixed), totals TikTok has no lifetime metrics for query a date
//! range, an app without the reporting scope fails that binding naming the scope, the daily
//! quota ends a run cleanly with nothing lost, and rows with an empty breakdown are kept.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, ApiBehaviour, DataShape, Faults, Quota, SimConfig};

use crate::common::{at, flow_in_process, sim_config, Session};

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Runs one Flow session at a fixed instant.
async fn session_at(cfg: &Value, streams: &[&'static str], state: &Value, now: &str) -> Session {
    flow_in_process(cfg, streams, state, at(now)).await
}

/// The cursor the state holds for one advertiser of the first binding.
fn cursor(state: &Value, stream: &str, advertiser: u64) -> Option<String> {
    state["bindingStateV1"][stream]["advertisers"][advertiser.to_string()]["cursor"]
        .as_str()
        .map(str::to_string)
}

/// Every report request the simulator refused.
fn refused(sim: &simulator::SimHandle) -> Vec<String> {
    sim.requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.code != 0)
        .map(|r| format!("{} {:?}", r.code, r.params))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn lookback_zero_reads_the_day_in_progress_again_after_the_day_boundary() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 10,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        "2024-06-25",
        json!({"advanced": {"lookback_days": 0}}),
    );
    let stream = "ads_reports_daily";
    // 20:00 UTC on June 30: the day is in progress for both advertisers (UTC-8 and UTC).
    let first = session_at(&cfg, &[stream], &json!({}), "2024-06-30T20:00:00Z").await;
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    for advertiser in sim.model().advertiser_ids() {
        assert_eq!(
            cursor(&first.state, stream, advertiser).as_deref(),
            Some("2024-06-29"),
            "the cursor stops before the day in progress"
        );
    }
    let before = sim.requests().len();
    // 05:00 UTC on July 1: June 30 is over in London, still in progress in Los Angeles.
    let second = session_at(&cfg, &[stream], &first.state, "2024-07-01T05:00:00Z").await;
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    let again: Vec<_> = sim.requests()[before..]
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params.contains_key("start_date"))
        .cloned()
        .collect();
    assert!(!again.is_empty());
    for request in &again {
        let start = day(&request.params["start_date"]);
        assert!(
            start <= day("2024-06-30"),
            "June 30 must be read again: {request:?}"
        );
    }
    let june_30_rows = second
        .docs
        .iter()
        .filter(|(_, d)| d["stat_time_day"] == "2024-06-30 00:00:00")
        .count();
    assert!(june_30_rows > 0, "the second run emits June 30 again");
    let ids = sim.model().advertiser_ids();
    assert_eq!(
        cursor(&second.state, stream, ids[0]).as_deref(),
        Some("2024-06-29"),
        "UTC-8: 21:00 on June 30 there, still in progress"
    );
    assert_eq!(
        cursor(&second.state, stream, ids[1]).as_deref(),
        Some("2024-06-30"),
        "UTC: June 30 is over"
    );
    assert!(refused(&sim).is_empty(), "{:?}", refused(&sim));
}

#[tokio::test(flavor = "multi_thread")]
async fn just_before_midnight_utc_the_cursor_follows_each_advertisers_time_zone() {
    // Four advertisers: UTC-8, UTC, UTC+1 and UTC+9 (Tokyo).
    let sim = simulator::spawn(SimConfig {
        today: day("2024-07-01"),
        record_requests: true,
        data: DataShape {
            advertisers: 4,
            ads_per_adgroup: 1,
            days: 5,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        "2024-06-28",
        json!({"advanced": {"lookback_days": 0}}),
    );
    let stream = "campaigns_reports_hourly";
    let session = session_at(&cfg, &[stream], &json!({}), "2024-06-30T23:30:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let ids = sim.model().advertiser_ids();
    let expected = [
        "2024-06-29", // UTC-8: 15:30 on June 30
        "2024-06-29", // UTC: 23:30 on June 30
        "2024-06-30", // UTC+1: 00:30 on July 1
        "2024-06-30", // UTC+9: 08:30 on July 1
    ];
    for (id, want) in ids.iter().zip(expected) {
        assert_eq!(
            cursor(&session.state, stream, *id).as_deref(),
            Some(want),
            "advertiser {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn audience_totals_end_on_an_end_date_in_the_past_never_after_it() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        data: DataShape {
            days: 600,
            advertisers: 1,
            ads_per_adgroup: 1,
            ..Default::default()
        },
        record_requests: true,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let stream = "advertisers_audience_reports_lifetime";
    let totals_ranges = |from: usize| -> Vec<(String, String)> {
        sim.requests()[from..]
            .iter()
            .filter(|r| r.path == "report/integrated/get/" && r.params["report_type"] == "AUDIENCE")
            .map(|r| (r.params["start_date"].clone(), r.params["end_date"].clone()))
            .collect()
    };
    // end_date in the past: the 365 days ending on it (TikTok's longest range), not today.
    let past = sim_config(
        &sim.base_url(),
        "2023-01-01",
        json!({"end_date": "2024-01-02"}),
    );
    let session = session_at(&past, &[stream], &json!({}), "2024-06-30T12:00:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert!(!session.docs.is_empty(), "{stream} captured nothing");
    let ranges = totals_ranges(0);
    assert!(!ranges.is_empty());
    for range in &ranges {
        assert_eq!(range, &("2023-01-03".into(), "2024-01-02".into()));
    }
    // end_date after today (or unset): the 365 days ending today, never past it.
    let before = sim.requests().len();
    let later = sim_config(
        &sim.base_url(),
        "2023-01-01",
        json!({"end_date": "2024-12-31"}),
    );
    let session = session_at(&later, &[stream], &json!({}), "2024-06-30T12:00:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let ranges = totals_ranges(before);
    assert!(!ranges.is_empty());
    for range in &ranges {
        assert_eq!(range, &("2023-07-02".into(), "2024-06-30".into()));
    }
    assert!(refused(&sim).is_empty(), "{:?}", refused(&sim));
}

#[tokio::test(flavor = "multi_thread")]
async fn totals_without_lifetime_metrics_query_the_longest_range_and_nothing_is_refused() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 400,
            advertisers: 1,
            ads_per_adgroup: 1,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        "2024-01-01",
        json!({"custom_reports": [
            {"name": "campaign_country_totals", "report_type": "BASIC",
             "data_level": "AUCTION_CAMPAIGN", "dimensions": ["campaign_id", "country_code"],
             "metrics": ["spend", "impressions"]},
            {"name": "campaign_audience_totals", "report_type": "AUDIENCE",
             "data_level": "AUCTION_CAMPAIGN", "dimensions": ["campaign_id", "gender", "age"],
             "metrics": ["spend"]}
        ]}),
    );
    let streams = [
        "advertisers_audience_reports_lifetime",
        "custom_report_campaign_country_totals",
        "custom_report_campaign_audience_totals",
        "campaigns_reports_lifetime",
    ];
    let session = session_at(&cfg, &streams, &json!({}), "2024-06-30T12:00:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    assert!(refused(&sim).is_empty(), "{:?}", refused(&sim));
    for (binding, stream) in streams.iter().enumerate() {
        let rows = session.docs.iter().filter(|(b, _)| *b == binding).count();
        assert!(rows > 0, "{stream} captured nothing");
    }
    let reports: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "report/integrated/get/")
        .collect();
    for r in &reports {
        let lifetime = r.params.get("query_lifetime").map(String::as_str);
        let by_country = r.params["dimensions"].contains("country_code");
        if r.params["report_type"] == "AUDIENCE" || by_country {
            assert_eq!(lifetime, None, "{r:?}");
            assert_eq!(r.params["start_date"], "2023-07-02", "{r:?}");
            assert_eq!(r.params["end_date"], "2024-06-30", "{r:?}");
        } else {
            assert_eq!(lifetime, Some("true"), "{r:?}");
        }
    }
    // The legacy name at report_granularity LIFETIME is the same totals.
    let before = sim.requests().len();
    let legacy_cfg = sim_config(
        &sim.base_url(),
        "2024-01-01",
        json!({"report_granularity": "LIFETIME"}),
    );
    let legacy = session_at(
        &legacy_cfg,
        &["advertisers_audience_reports"],
        &json!({}),
        "2024-06-30T12:00:00Z",
    )
    .await;
    assert_eq!(legacy.output.code, 0, "{}", legacy.output.stderr);
    assert!(!legacy.docs.is_empty());
    let requests = sim.requests();
    // The stream's own AUDIENCE queries (the activity index asks BASIC lifetime totals).
    let legacy_reports: Vec<_> = requests[before..]
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params["report_type"] == "AUDIENCE")
        .collect();
    assert!(!legacy_reports.is_empty());
    for r in legacy_reports {
        assert_eq!(r.code, 0, "{r:?}");
        assert!(!r.params.contains_key("query_lifetime"), "{r:?}");
        assert_eq!(r.params["start_date"], "2023-07-02", "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_without_the_reporting_scope_fails_the_report_bindings_naming_it() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        data: DataShape {
            days: 3,
            ..Default::default()
        },
        api: ApiBehaviour {
            missing_scopes: vec!["Reporting".into()],
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-29", json!({}));
    let session = session_at(
        &cfg,
        &["campaigns", "campaigns_reports_daily"],
        &json!({}),
        "2024-06-30T12:00:00Z",
    )
    .await;
    assert_ne!(
        session.output.code, 0,
        "a capture that got no report rows fails"
    );
    let stderr = &session.output.stderr;
    assert!(
        stderr.contains("refused all 2 advertiser(s)") && stderr.contains("\\\"Reporting\\\""),
        "{stderr}"
    );
    // The campaigns binding still captured every campaign.
    let campaigns = session.docs.iter().filter(|(b, _)| *b == 0).count();
    assert!(campaigns > 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daily_quota_ends_the_run_cleanly_and_the_next_run_loses_nothing() {
    let sim_cfg = SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 8,
            advertisers: 1,
            ads_per_adgroup: 1,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let limited = simulator::spawn(SimConfig {
        api: ApiBehaviour {
            quota: Some(Quota {
                per_minute: 10_000,
                per_day: 4,
            }),
            ..sim_cfg.clone().api
        },
        ..sim_cfg.clone()
    })
    .await
    .unwrap();
    let stream = "campaigns_reports_hourly";
    let now = "2024-06-30T20:00:00Z";
    let cfg = sim_config(&limited.base_url(), "2024-06-23", json!({}));
    let first = session_at(&cfg, &[stream], &json!({}), now).await;
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    assert!(
        first
            .output
            .stderr
            .contains("daily request quota is used up")
            && first.output.stderr.contains("00:00 UTC, in about 4 h"),
        "{}",
        first.output.stderr
    );
    let served = limited
        .requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.code == 0)
        .count();
    assert_eq!(served, 4);
    // After the reset, the next run goes on from the last checkpoint.
    let fresh = simulator::spawn(sim_cfg).await.unwrap();
    let cfg = sim_config(&fresh.base_url(), "2024-06-23", json!({}));
    let second = session_at(&cfg, &[stream], &first.state, "2024-07-01T01:00:00Z").await;
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    let key = |d: &Value| format!("{}|{}", d["campaign_id"], d["stat_time_hour"]);
    let got: BTreeSet<String> = first
        .docs
        .iter()
        .chain(&second.docs)
        .map(|(_, d)| key(d))
        .collect();
    let everything = session_at(&cfg, &[stream], &json!({}), "2024-07-01T01:00:00Z").await;
    let want: BTreeSet<String> = everything.docs.iter().map(|(_, d)| key(d)).collect();
    assert!(!first.docs.is_empty());
    assert_eq!(got, want, "rows lost across the quota");
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_with_an_empty_breakdown_are_kept_with_one_warning() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        data: DataShape {
            days: 3,
            // Auction delivery only: the expected rows below are one query per account.
            auction_only_every: 1,
            ..Default::default()
        },
        api: ApiBehaviour {
            empty_breakdown_values: true,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-28", json!({}));
    let stream = "campaigns_audience_reports_by_country_daily";
    let session = session_at(&cfg, &[stream], &json!({}), "2024-06-30T12:00:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let empty = session
        .docs
        .iter()
        .filter(|(_, d)| d["country_code"] == "")
        .count();
    assert!(empty > 0, "rows without a country were dropped");
    // Every row the simulator holds is there: the empty ones are not dropped.
    let mut expected = 0;
    let config = source_tiktok_marketing::config::parse(&cfg).unwrap();
    let spec = source_tiktok_marketing::registry::resolve(stream, &config)
        .unwrap()
        .report()
        .unwrap()
        .clone();
    for advertiser in sim.model().advertiser_ids() {
        expected += sim
            .model()
            .report_rows(&simulator::ReportQuery {
                advertiser_id: advertiser,
                report_type: tiktok_sim::catalog::ReportType::Audience,
                level: tiktok_sim::catalog::Level::Campaign,
                dimensions: spec.dimensions.clone(),
                metrics: spec.metrics.clone(),
                start_date: Some(day("2024-06-28")),
                end_date: Some(day("2024-06-30")),
                lifetime: false,
                filtering: source_tiktok_marketing::capture::report::filtering(&spec, true, None),
            })
            .unwrap()
            .len();
    }
    assert_eq!(session.docs.len(), expected);
    let warnings = session
        .output
        .stderr
        .lines()
        .filter(|l| l.contains("left a key dimension") && l.contains(stream))
        .count();
    assert_eq!(warnings, 1, "{}", session.output.stderr);
}

/// Runs `campaigns` and `campaigns_reports_daily` against a simulator with `faults`, with the
/// pauses scaled down (20 ms first backoff, the per-minute pause 400 ms); returns the session
/// and the simulator's 40100 answers. The rows must equal a fault-free run's.
async fn throttled_capture(faults: Vec<tiktok_sim::FaultRule>) -> (Session, usize) {
    let base = SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 2,
            advertisers: 1,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let sim = simulator::spawn(SimConfig {
        faults: Faults {
            rules: faults,
            ..Default::default()
        },
        ..base.clone()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-29", json!({}));
    let streams = ["campaigns", "campaigns_reports_daily"];
    let mut options = at("2024-06-30T12:00:00Z");
    options.client = options
        .client
        .with_retry_delay(std::time::Duration::from_millis(20));
    let session = flow_in_process(&cfg, &streams, &json!({}), options).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let throttled = sim.requests().iter().filter(|r| r.code == 40100).count();
    // Everything was captured once the throttling ended.
    let calm = simulator::spawn(base).await.unwrap();
    let cfg = sim_config(&calm.base_url(), "2024-06-29", json!({}));
    let baseline = session_at(&cfg, &streams, &json!({}), "2024-06-30T12:00:00Z").await;
    let rows = |s: &Session| {
        let mut rows: Vec<String> = s.docs.iter().map(|(b, d)| format!("{b} {d}")).collect();
        rows.sort();
        rows
    };
    assert_eq!(rows(&session), rows(&baseline));
    (session, throttled)
}

/// TikTok's generic throttle message names no limit: however long the storm, the connector
/// backs off in growing steps and never takes the per-minute pause.
#[tokio::test(flavor = "multi_thread")]
async fn a_storm_of_generic_throttles_backs_off_without_the_per_minute_pause() {
    let (session, throttled) = throttled_capture(vec![tiktok_sim::FaultRule {
        fault: tiktok_sim::Fault::RateLimitStorm(std::time::Duration::from_millis(1500)),
        every: 1,
        paths: None,
    }])
    .await;
    assert!(throttled >= 3, "{throttled}");
    assert!(
        !session.output.stderr.contains("per-minute limit"),
        "{}",
        session.output.stderr
    );
}

/// A message naming the per-minute limit (QPM) pauses every request as TikTok advises, and the
/// run completes after it.
#[tokio::test(flavor = "multi_thread")]
async fn a_qpm_throttle_pauses_as_tiktok_advises_and_the_run_completes() {
    let (session, throttled) = throttled_capture(vec![tiktok_sim::FaultRule {
        fault: tiktok_sim::Fault::Throttled(tiktok_sim::Limit::Qpm),
        every: 4,
        paths: None,
    }])
    .await;
    assert!(throttled >= 1, "{throttled}");
    assert!(
        session
            .output
            .stderr
            .contains("reached its per-minute limit (QPM): pausing every request"),
        "{}",
        session.output.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_that_can_read_no_ad_account_fails_the_run_naming_the_scope() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        data: DataShape {
            days: 3,
            ..Default::default()
        },
        api: ApiBehaviour {
            missing_scopes: vec!["Ad Account Management".into()],
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-29", json!({}));
    let session = session_at(
        &cfg,
        &["campaigns", "campaigns_reports_daily"],
        &json!({}),
        "2024-06-30T12:00:00Z",
    )
    .await;
    assert_ne!(session.output.code, 0);
    let message = session.output.last_log_message();
    assert!(
        message.contains("refused every ad account")
            && message.contains("\"Ad Account Management\""),
        "{message}"
    );
    assert!(session.docs.is_empty());
}

/// Slow by nature (about 80 seconds): the sandbox's default budget must stay within TikTok's 30
/// requests per minute per endpoint for longer than a minute.
#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_default_budget_stays_within_30_requests_a_minute() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 40,
            advertisers: 1,
            ads_per_adgroup: 1,
            ..Default::default()
        },
        api: ApiBehaviour {
            sandbox: true,
            quota: Some(Quota::SANDBOX),
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = json!({
        "credentials": {"auth_type": "sandbox_access_token",
                        "advertiser_id": sim.model().advertiser_ids()[0].to_string(),
                        "access_token": "sim-token"},
        "start_date": "2024-05-28",
        "advanced": {"base_url": sim.base_url()},
    });
    let stream = "campaigns_reports_hourly";
    let session = session_at(&cfg, &[stream], &json!({}), "2024-06-30T12:00:00Z").await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let reports: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "report/integrated/get/")
        .collect();
    assert!(reports.len() > 30, "{} requests", reports.len());
    let throttled = reports.iter().filter(|r| r.code != 0).count();
    assert_eq!(throttled, 0, "the sandbox throttled the default budget");
}

/// TikTok's daily quota is per app and path ("reaches the daily limit (QPD) ... for current
/// path"; Rate limits, portal doc 1740029171730433). A QPD on `report/integrated/get/` ends the
/// report streams at their last checkpoint, reported INCOMPLETE (not COMPLETE, and not failed:
/// the run exits 0 as for any spent quota), while the entity streams read everything; the
/// spent path is not asked again.
#[tokio::test(flavor = "multi_thread")]
async fn a_daily_quota_ends_only_the_streams_of_its_endpoint_as_incomplete() {
    let sim = simulator::spawn(SimConfig {
        today: day("2024-06-30"),
        record_requests: true,
        data: DataShape {
            days: 3,
            advertisers: 2,
            ..Default::default()
        },
        faults: Faults {
            rules: vec![tiktok_sim::FaultRule {
                fault: tiktok_sim::Fault::Throttled(tiktok_sim::Limit::Qpd),
                every: 1,
                paths: Some(vec!["report/integrated/get/".into()]),
            }],
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let cfg = sim_config(&sim.base_url(), "2024-06-28", json!({}));
    let streams = ["campaigns", "campaigns_reports_daily"];
    let catalog = json!({"streams": streams.iter().map(|s| json!({
        "stream": {"name": s, "json_schema": {}, "supported_sync_modes": ["full_refresh", "incremental"]},
        "sync_mode": "incremental", "destination_sync_mode": "append"})).collect::<Vec<_>>()});
    let out =
        crate::common::read_in_process(&cfg, &catalog, None, at("2024-06-30T12:00:00Z")).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let status = |stream: &str| {
        out.stdout
            .iter()
            .filter(|m| {
                m["trace"]["type"] == "STREAM_STATUS"
                    && m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
            })
            .map(|m| m["trace"]["stream_status"]["status"].clone())
            .next_back()
    };
    assert_eq!(status("campaigns"), Some(json!("COMPLETE")));
    assert_eq!(status("campaigns_reports_daily"), Some(json!("INCOMPLETE")));
    assert!(
        !out.stdout.iter().any(|m| m["trace"]["type"] == "ERROR"),
        "a spent quota is not a failure"
    );
    let campaigns = out
        .stdout
        .iter()
        .filter(|m| m["type"] == "RECORD" && m["record"]["stream"] == "campaigns")
        .count();
    let listed: usize = sim
        .model()
        .advertiser_ids()
        .iter()
        .map(|a| {
            sim.model()
                .entities(tiktok_sim::EntityKind::Campaign, *a, true)
                .len()
        })
        .sum();
    assert_eq!(campaigns, listed);
    // The spent path is asked no more than the requests already in flight when TikTok said so.
    let asked = sim
        .requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/")
        .count();
    assert!(
        asked <= 4,
        "{asked} report requests after the quota was spent"
    );
}
