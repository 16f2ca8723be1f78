//! Unit tests of report queries: validation, planning, rendering and the task CSV.

use std::collections::HashSet;

use super::task_csv::{country_name, report_title};
use super::*;
use crate::catalog::Granularity;
use crate::catalog::{sample_metrics as metrics_for, Breakdown};
use crate::model::BuyingType;
use crate::{ApiBehaviour, DataShape, EntityKind, SimConfig};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
}

fn model() -> Model {
    Model::new(&SimConfig {
        today: today(),
        ..SimConfig::default()
    })
}

fn date(s: &str) -> Option<NaiveDate> {
    Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
}

fn query(m: &Model, level: Level, dims: &[&str], metrics: &[&str]) -> ReportQuery {
    ReportQuery {
        advertiser_id: m.advertiser_ids()[0],
        report_type: ReportType::Basic,
        level,
        dimensions: dims.iter().map(|s| s.to_string()).collect(),
        metrics: metrics.iter().map(|s| s.to_string()).collect(),
        start_date: date("2024-06-01"),
        end_date: date("2024-06-30"),
        lifetime: false,
        filtering: Vec::new(),
    }
}

fn status_all(field: &str) -> Vec<Value> {
    vec![
        serde_json::json!({"field_name": field, "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"}),
    ]
}

fn code(r: Result<Vec<Value>, (i64, String)>) -> (i64, String) {
    r.expect_err("expected an API error")
}

fn int(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        Value::Number(n) => n.as_u64().unwrap(),
        other => panic!("not a count: {other}"),
    }
}

/// TikTok's titles where its docs show them ("AD ID" from the create doc), the simulator's
/// guesses otherwise.
#[test]
fn report_titles() {
    let titles: Vec<String> = [
        "ad_id",
        "adgroup_id",
        "adgroup_name",
        "campaign_name",
        "spend",
        "impressions",
        "clicks",
        "video_watched_2s",
    ]
    .into_iter()
    .map(report_title)
    .collect();
    assert_eq!(
        titles,
        [
            "AD ID",
            "Ad Group ID",
            "Ad Group Name",
            "Campaign Name",
            "Cost",
            "Impression",
            "Click",
            "Video Watched 2s"
        ]
    );
}

/// Every country code the model produces has a name for the asynchronous CSV.
#[test]
fn every_country_code_has_a_name() {
    for code in COUNTRIES {
        let name = country_name(code);
        assert!(name.len() > 2 && name != *code, "{code}: {name}");
    }
    assert_eq!(country_name("US"), "United States");
    assert_eq!(country_name(""), "");
}

#[test]
fn day_windows_are_at_most_30_days_and_hour_windows_one_day() {
    let m = model();
    let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
    assert!(m.report_rows(&q).is_ok());
    q.start_date = date("2024-05-31");
    let (c, msg) = code(m.report_rows(&q));
    assert_eq!(c, 40002);
    assert!(msg.contains("30 days"), "{msg}");

    let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_hour"], &["spend"]);
    q.start_date = date("2024-06-29");
    q.end_date = date("2024-06-30");
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    q.start_date = date("2024-06-30");
    let rows = m.report_rows(&q).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(r["dimensions"]["stat_time_hour"]
            .as_str()
            .unwrap()
            .starts_with("2024-06-30 "));
    }

    let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
    q.start_date = None;
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    q.lifetime = true;
    assert_eq!(
        code(m.report_rows(&q)).0,
        40002,
        "no time dimension with lifetime"
    );
}

#[test]
fn dimension_rules() {
    let m = model();
    let bad = |dims: &[&str], level| code(m.report_rows(&query(&m, level, dims, &["spend"]))).0;
    assert_eq!(bad(&["stat_time_day"], Level::Ad), 40002, "no id dimension");
    assert_eq!(
        bad(&["campaign_id", "stat_time_day"], Level::Ad),
        40002,
        "wrong id"
    );
    assert_eq!(
        bad(&["ad_id", "campaign_id", "stat_time_day"], Level::Ad),
        40002,
        "two ids"
    );
    assert_eq!(
        bad(&["ad_id", "stat_time_day", "stat_time_hour"], Level::Ad),
        40002
    );
    assert_eq!(
        bad(&["ad_id", "stat_time_day", "gender"], Level::Ad),
        40002,
        "BASIC has no gender"
    );
    assert_eq!(
        bad(&["ad_id", "stat_time_day", "made_up"], Level::Ad),
        40002
    );
    let ok = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_day", "country_code"],
        &["spend"],
    );
    let rows = m.report_rows(&ok).unwrap();
    assert!(rows
        .iter()
        .all(|r| COUNTRIES.contains(&r["dimensions"]["country_code"].as_str().unwrap())));

    let mut aud = query(
        &m,
        Level::Campaign,
        &["campaign_id", "stat_time_day", "province_id"],
        &["spend"],
    );
    aud.report_type = ReportType::Audience;
    assert_eq!(
        code(m.report_rows(&aud)).0,
        40002,
        "province only at ad level"
    );
    aud.dimensions = vec!["campaign_id".into(), "stat_time_day".into()];
    assert_eq!(
        code(m.report_rows(&aud)).0,
        40002,
        "audience needs a breakdown"
    );
    aud.dimensions = vec![
        "campaign_id".into(),
        "gender".into(),
        "age".into(),
        "stat_time_day".into(),
    ];
    let rows = m.report_rows(&aud).unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert!(GENDERS.contains(&r["dimensions"]["gender"].as_str().unwrap()));
        assert!(AGES.contains(&r["dimensions"]["age"].as_str().unwrap()));
        // AUDIENCE metrics are strings.
        assert!(r["metrics"]["spend"].is_string());
    }
    // TikTok has no lifetime audience metrics (v1.3), at any level; totals over a date range
    // without a time dimension are served instead.
    for (level, id) in [
        (Level::Advertiser, "advertiser_id"),
        (Level::Campaign, "campaign_id"),
    ] {
        aud.level = level;
        aud.dimensions = vec![id.into(), "gender".into(), "age".into()];
        aud.lifetime = true;
        let (c, message) = code(m.report_rows(&aud));
        assert_eq!(c, 40002, "audience lifetime at {level:?}");
        assert!(message.starts_with("query_lifetime"), "{message}");
        aud.lifetime = false;
        aud.start_date = today().checked_sub_days(chrono::Days::new(364));
        aud.end_date = Some(today());
        let totals = m.report_rows(&aud).unwrap();
        assert!(!totals.is_empty(), "audience totals at {level:?}");
        aud.start_date = today().checked_sub_days(chrono::Days::new(365));
        assert_eq!(code(m.report_rows(&aud)).0, 40002, "366 days");
    }
}

#[test]
fn lifetime_basic_refuses_country_code_but_a_range_serves_it() {
    let m = model();
    let mut q = query(
        &m,
        Level::Campaign,
        &["campaign_id", "country_code"],
        &["spend"],
    );
    q.lifetime = true;
    let (c, message) = code(m.report_rows(&q));
    assert_eq!(c, 40002);
    assert!(message.contains("country_code"), "{message}");
    q.lifetime = false;
    q.start_date = today().checked_sub_days(chrono::Days::new(364));
    q.end_date = Some(today());
    assert!(!m.report_rows(&q).unwrap().is_empty());
}

#[test]
fn empty_breakdown_values_are_deterministic_and_keys_stay_distinct() {
    let m = Model::new(&SimConfig {
        today: today(),
        api: ApiBehaviour {
            empty_breakdown_values: true,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let mut q = query(
        &m,
        Level::Campaign,
        &["campaign_id", "stat_time_day", "country_code"],
        &["spend"],
    );
    q.report_type = ReportType::Audience;
    let rows = m.report_rows(&q).unwrap();
    let empty = rows
        .iter()
        .filter(|r| r["dimensions"]["country_code"] == "")
        .count();
    assert!(empty > 0, "some rows have no country");
    assert!(rows.iter().all(|r| r["dimensions"]["country_code"] != "BR"));
    let keys: std::collections::HashSet<String> =
        rows.iter().map(|r| r["dimensions"].to_string()).collect();
    assert_eq!(keys.len(), rows.len(), "no two rows share a key");
    assert_eq!(rows, m.report_rows(&q).unwrap(), "deterministic");
}

#[test]
fn hourly_audience_is_refused_like_today_unless_allowed() {
    let m = model();
    let mut q = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_hour", "gender", "age"],
        &["spend"],
    );
    q.report_type = ReportType::Audience;
    q.start_date = date("2024-06-30");
    let (c, msg) = code(m.report_rows(&q));
    assert_eq!(c, 40002);
    assert_eq!(
        msg,
        "Conflict occurs. The input params including metrics and dimensions have no relation."
    );
    let allowed = Model::new(&SimConfig {
        today: today(),
        api: ApiBehaviour {
            hourly_audience_refused: false,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    assert!(!allowed.report_rows(&q).unwrap().is_empty());
}

#[test]
fn metrics_must_be_known_and_allowed() {
    let m = model();
    let q = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend", "made_up_metric"],
    );
    let (c, msg) = code(m.report_rows(&q));
    assert_eq!(c, 40002);
    assert!(
        msg.starts_with("Invalid metric fields") && msg.contains("made_up_metric"),
        "{msg}"
    );
    let q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["cash_spend"]);
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    let q = query(
        &m,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["cash_spend", "voucher_spend", "spend"],
    );
    let rows = m.report_rows(&q).unwrap();
    // One row per day on which one of the account's ads delivers.
    let delivering_days = (1..=30)
        .filter(|&d| {
            m.advertiser_delivers_on(
                q.advertiser_id,
                NaiveDate::from_ymd_opt(2024, 6, d).unwrap(),
            )
        })
        .count();
    assert_eq!(rows.len(), delivering_days);
    assert!(delivering_days >= 20, "{delivering_days}");
    let mut q = query(&m, Level::Advertiser, &["advertiser_id"], &["cash_spend"]);
    q.lifetime = true;
    assert!(code(m.report_rows(&q)).1.contains("cash_spend"));
    // Every declared list is accepted at its level.
    for level in [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ] {
        let metrics = metrics_for(ReportType::Basic, level, Granularity::Day, Breakdown::None);
        let q = query(&m, level, &[level.id_field(), "stat_time_day"], &metrics);
        let rows = m.report_rows(&q).unwrap();
        assert_eq!(rows[0]["metrics"].as_object().unwrap().len(), metrics.len());
    }
}

#[test]
fn metric_wire_formats() {
    let m = model();
    let metrics = metrics_for(
        ReportType::Basic,
        Level::Ad,
        Granularity::Day,
        Breakdown::None,
    );
    let q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &metrics);
    let rows = m.report_rows(&q).unwrap();
    let r = &rows[0];
    let spend = r["metrics"]["spend"].as_str().unwrap();
    assert_eq!(spend.split('.').nth(1).map(str::len), Some(3), "{spend}");
    assert!(r["metrics"]["impressions"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert!(r["metrics"]["video_play_actions"].is_number());
    assert!(r["metrics"]["average_video_play"].is_number());
    assert!(r["metrics"]["campaign_id"].is_number());
    assert!(r["metrics"]["ad_name"].as_str().unwrap().contains("video"));
    assert_eq!(r["metrics"]["secondary_goal_result"], "-");
    assert_eq!(r["metrics"]["dpa_target_audience_type"], Value::Null);
    let day = r["dimensions"]["stat_time_day"].as_str().unwrap();
    assert!(day.ends_with(" 00:00:00") && day.len() == 19);
    assert!(r["dimensions"]["ad_id"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .is_ok());
}

#[test]
fn days_sum_hours_and_lifetime_sums_days() {
    let m = model();
    let id = m.advertiser_ids()[0];
    let metrics = ["impressions", "clicks", "video_play_actions"];
    let q = query(
        &m,
        Level::Campaign,
        &["campaign_id", "stat_time_day"],
        &metrics,
    );
    let days = m.report_rows(&q).unwrap();
    // Ordered by time, then entity.
    let keys: Vec<(String, u64)> = days
        .iter()
        .map(|r| {
            let d = &r["dimensions"];
            (
                d["stat_time_day"].as_str().unwrap().to_string(),
                d["campaign_id"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);

    let day_row = &days[days.len() / 2];
    let day = &day_row["dimensions"]["stat_time_day"].as_str().unwrap()[..10];
    let cid = day_row["dimensions"]["campaign_id"].as_str().unwrap();
    let mut hq = query(
        &m,
        Level::Campaign,
        &["campaign_id", "stat_time_hour"],
        &metrics,
    );
    hq.start_date = date(day);
    hq.end_date = date(day);
    let hours = m.report_rows(&hq).unwrap();
    let hour_sum: u64 = hours
        .iter()
        .filter(|r| r["dimensions"]["campaign_id"] == cid)
        .map(|r| int(&r["metrics"]["impressions"]))
        .sum();
    assert_eq!(hour_sum, int(&day_row["metrics"]["impressions"]));

    let mut lq = query(&m, Level::Campaign, &["campaign_id"], &metrics);
    lq.lifetime = true;
    lq.start_date = None;
    lq.end_date = None;
    let lifetime = m.report_rows(&lq).unwrap();
    let mut first_window = query(
        &m,
        Level::Campaign,
        &["campaign_id", "stat_time_day"],
        &metrics,
    );
    first_window.start_date = Some(m.first_day());
    first_window.end_date = Some(m.first_day() + chrono::Duration::days(29));
    let all_days = m.report_rows(&first_window).unwrap();
    for row in &lifetime {
        let cid = &row["dimensions"]["campaign_id"];
        let sum: u64 = all_days
            .iter()
            .filter(|r| &r["dimensions"]["campaign_id"] == cid)
            .map(|r| int(&r["metrics"]["video_play_actions"]))
            .sum();
        assert_eq!(sum, int(&row["metrics"]["video_play_actions"]));
    }
    assert!(m.entities(EntityKind::Campaign, id, true).len() >= lifetime.len());
}

#[test]
fn deleted_entities_need_status_all_at_the_right_level() {
    let m = Model::new(&SimConfig {
        today: today(),
        data: DataShape {
            deleted_every: 2,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let mut q = query(&m, Level::Ad, &["ad_id"], &["spend"]);
    q.lifetime = true;
    let live = m.report_rows(&q).unwrap();
    q.filtering = status_all("ad_status");
    let all = m.report_rows(&q).unwrap();
    assert!(all.len() > live.len(), "{} vs {}", all.len(), live.len());
    let deleted: HashSet<String> = m
        .entities(EntityKind::Ad, q.advertiser_id, true)
        .into_iter()
        .filter(|a| a["secondary_status"] == "AD_STATUS_DELETE")
        .map(|a| a["ad_id"].as_str().unwrap().to_string())
        .collect();
    assert!(live
        .iter()
        .all(|r| !deleted.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
    assert!(all
        .iter()
        .any(|r| deleted.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
    q.filtering = status_all("campaign_status");
    let (c, msg) = code(m.report_rows(&q));
    assert_eq!(c, 40002);
    assert!(msg.contains("campaign_status"), "{msg}");
    let mut adv = query(
        &m,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["spend"],
    );
    adv.filtering = status_all("ad_status");
    assert_eq!(code(m.report_rows(&adv)).0, 40002);
}

#[test]
fn id_filters_restrict_rows_and_cap_at_100() {
    let m = model();
    let id = m.advertiser_ids()[0];
    let campaigns = m.entities(EntityKind::Campaign, id, false);
    let cid = campaigns[0]["campaign_id"].as_str().unwrap().to_string();
    let ads_of_campaign: HashSet<String> = m
        .entities(EntityKind::Ad, id, false)
        .into_iter()
        .filter(|a| a["campaign_id"] == cid.as_str())
        .map(|a| a["ad_id"].as_str().unwrap().to_string())
        .collect();
    let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
    q.filtering = vec![serde_json::json!({
        "field_name": "campaign_ids", "filter_type": "IN", "filter_value": format!("[\"{cid}\"]")
    })];
    let rows = m.report_rows(&q).unwrap();
    assert!(!rows.is_empty());
    assert!(rows
        .iter()
        .all(|r| ads_of_campaign.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
    let many: Vec<String> = (0..101).map(|i| (1000 + i).to_string()).collect();
    q.filtering = vec![serde_json::json!({
        "field_name": "ad_ids", "filter_type": "IN", "filter_value": serde_json::to_string(&many).unwrap()
    })];
    assert_eq!(code(m.report_rows(&q)).0, 40002);
}

fn id_filter(field: &str, ids: &[u64]) -> Value {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    serde_json::json!({"field_name": field, "filter_type": "IN",
        "filter_value": serde_json::to_string(&ids).unwrap()})
}

fn buying_filter(value: &str) -> Value {
    serde_json::json!({"field_name": "buying_type", "filter_type": "IN",
        "filter_value": format!("[\"{value}\"]")})
}

/// `(id, impressions)` of every row of a lifetime query.
fn lifetime_rows(m: &Model, q: &ReportQuery) -> (std::collections::BTreeMap<String, u64>, bool) {
    let plan = m.report_plan(q).unwrap();
    let rows = m.render_rows(&plan, 0, plan.len());
    let field = q.level.id_field();
    let by_id = rows
        .iter()
        .map(|r| {
            (
                r["dimensions"][field].as_str().unwrap().to_string(),
                int(&r["metrics"]["impressions"]),
            )
        })
        .collect();
    (by_id, plan.ads_throttled())
}

/// The cap at every level: a query selecting more ads than the cap processes only the most
/// recently created ones (rows of the others are missing or their figures partial) and says
/// so; id filters that select fewer ads than the cap get whole figures and no signal.
#[test]
fn the_ads_cap_applies_at_every_level_and_id_filters_narrow_under_it() {
    let sized = |ads_cap: usize| {
        Model::new(&SimConfig {
            today: today(),
            data: DataShape {
                advertisers: 1,
                campaigns_per_advertiser: 4,
                adgroups_per_campaign: 3,
                ads_per_adgroup: 5,
                days: 5,
                deleted_every: 0,
                auction_only_every: 1,
                ..Default::default()
            },
            api: ApiBehaviour {
                ads_cap,
                ..Default::default()
            },
            ..SimConfig::default()
        })
    };
    let m = sized(25);
    let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
    assert_eq!(adv.ads.len(), 60);
    for level in [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ] {
        let mut q = query(&m, level, &[level.id_field()], &["impressions"]);
        q.lifetime = true;
        let (capped, throttled) = lifetime_rows(&m, &q);
        assert!(
            throttled,
            "{level:?}: 60 ads over a cap of 25 must be signalled"
        );
        // Whole figures, entity by entity, from queries under the cap.
        let mut whole = std::collections::BTreeMap::new();
        if level == Level::Advertiser {
            let (all, throttled) = lifetime_rows(&sized(ADS_CAP), &q);
            assert!(!throttled);
            whole = all;
        } else {
            for c in &adv.campaigns {
                let mut part = q.clone();
                part.filtering = vec![id_filter("campaign_ids", &[c.id])];
                let (rows, throttled) = lifetime_rows(&m, &part);
                assert!(!throttled, "{level:?}: 15 ads per campaign");
                whole.extend(rows);
            }
        }
        assert!(!whole.is_empty());
        assert_ne!(capped, whole, "{level:?}: the capped answer must differ");
        for (id, figure) in &capped {
            assert!(*figure <= whole[id], "{level:?} {id}");
        }
    }
    // At ad level the rows kept are those of the 25 most recently created ads.
    let mut q = query(&m, Level::Ad, &["ad_id"], &["impressions"]);
    q.lifetime = true;
    let (rows, _) = lifetime_rows(&m, &q);
    let mut newest: Vec<&super::super::model::Ad> = adv.ads.iter().collect();
    newest.sort_by_key(|a| std::cmp::Reverse((a.life.create_ts, a.id)));
    let kept: HashSet<String> = newest[..25].iter().map(|a| a.id.to_string()).collect();
    assert!(rows.keys().all(|id| kept.contains(id)));
    // Id filters hold at most 100 ids.
    let many: Vec<u64> = (0..101).map(|i| 1000 + i).collect();
    q.filtering = vec![id_filter("ad_ids", &many)];
    assert_eq!(code(m.report_rows(&q)).0, 40002);
}

/// Reservation delivery: without a `buying_type` filter a report covers auction and reach &
/// frequency ads; TopView delivery comes only with the filter, asked alone; the advertiser
/// level takes no such filter.
#[test]
fn topview_delivery_needs_the_buying_type_filter() {
    let m = Model::new(&SimConfig {
        today: today(),
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 20,
            deleted_every: 0,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
    let of = |b: BuyingType| -> HashSet<String> {
        adv.campaigns
            .iter()
            .filter(|c| c.buying == b)
            .map(|c| c.id.to_string())
            .collect()
    };
    let (auction, topview, rf) = (
        of(BuyingType::Auction),
        of(BuyingType::TopView),
        of(BuyingType::ReachFrequency),
    );
    assert!(!topview.is_empty() && !rf.is_empty() && !auction.is_empty());
    let mut q = query(&m, Level::Campaign, &["campaign_id"], &["impressions"]);
    q.lifetime = true;
    let (default, _) = lifetime_rows(&m, &q);
    assert!(default.keys().all(|id| !topview.contains(id)));
    assert!(default.keys().any(|id| rf.contains(id)));
    assert!(default.keys().any(|id| auction.contains(id)));
    q.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
    let (top, _) = lifetime_rows(&m, &q);
    assert!(!top.is_empty());
    assert!(top.keys().all(|id| topview.contains(id)));
    // The same at ad level: an ad has one buying type, so the two answers never share a key.
    let mut ads = query(&m, Level::Ad, &["ad_id"], &["impressions"]);
    ads.lifetime = true;
    let (default_ads, _) = lifetime_rows(&m, &ads);
    ads.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
    let (top_ads, _) = lifetime_rows(&m, &ads);
    assert!(!top_ads.is_empty());
    assert!(top_ads.keys().all(|id| !default_ads.contains_key(id)));
    // Refusals.
    q.filtering = vec![
        serde_json::json!({"field_name": "buying_type", "filter_type": "IN",
        "filter_value": "[\"RESERVATION_TOP_VIEW\",\"AUCTION\"]"}),
    ];
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    q.filtering = vec![buying_filter("RESERVATION")];
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    let mut a = query(&m, Level::Advertiser, &["advertiser_id"], &["impressions"]);
    a.lifetime = true;
    a.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
    let (c, msg) = code(m.report_rows(&a));
    assert_eq!(c, 40002);
    assert!(msg.contains("buying_type"), "{msg}");
}

#[test]
fn sandbox_refuses_advertiser_level_and_same_seed_same_rows() {
    let sandbox = Model::new(&SimConfig {
        today: today(),
        api: ApiBehaviour {
            sandbox: true,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let q = query(
        &sandbox,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &["spend"],
    );
    assert_eq!(
        code(sandbox.report_rows(&q)),
        (
            40009,
            "Unsupported data_level in sandbox environment".into()
        )
    );
    let a = model();
    let b = model();
    let q = query(
        &a,
        Level::AdGroup,
        &["adgroup_id", "stat_time_day"],
        &["spend", "clicks", "ctr"],
    );
    assert_eq!(a.report_rows(&q).unwrap(), b.report_rows(&q).unwrap());
    let c = Model::new(&SimConfig {
        today: today(),
        seed: 2,
        ..SimConfig::default()
    });
    let mut qc = q.clone();
    qc.advertiser_id = c.advertiser_ids()[0];
    assert_ne!(a.report_rows(&q).unwrap(), c.report_rows(&qc).unwrap());
}

/// The breakdown reports of the extra report streams beyond gender/age: BASIC by country
/// (ads and ad groups, daily and hourly) and AUDIENCE by country and platform at every level
/// and by province at ad level, each with the metrics its stream requests.
#[test]
fn country_platform_and_province_breakdowns_are_served() {
    let m = model();
    let cases: &[(ReportType, Level, Granularity, Breakdown, &[&str])] = &[
        (
            ReportType::Basic,
            Level::Ad,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Basic,
            Level::Ad,
            Granularity::Hour,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Basic,
            Level::AdGroup,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Basic,
            Level::AdGroup,
            Granularity::Hour,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Audience,
            Level::Advertiser,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Audience,
            Level::Campaign,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Audience,
            Level::AdGroup,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Audience,
            Level::Ad,
            Granularity::Day,
            Breakdown::Country,
            COUNTRIES,
        ),
        (
            ReportType::Audience,
            Level::Advertiser,
            Granularity::Day,
            Breakdown::Platform,
            PLATFORMS,
        ),
        (
            ReportType::Audience,
            Level::Campaign,
            Granularity::Day,
            Breakdown::Platform,
            PLATFORMS,
        ),
        (
            ReportType::Audience,
            Level::AdGroup,
            Granularity::Day,
            Breakdown::Platform,
            PLATFORMS,
        ),
        (
            ReportType::Audience,
            Level::Ad,
            Granularity::Day,
            Breakdown::Platform,
            PLATFORMS,
        ),
        (
            ReportType::Audience,
            Level::Ad,
            Granularity::Day,
            Breakdown::Province,
            PROVINCES,
        ),
    ];
    for &(rt, level, g, bd, values) in cases {
        let time = g.time_dimension().unwrap();
        let mut dims = vec![level.id_field(), time];
        dims.extend(bd.dimensions());
        let metrics = metrics_for(rt, level, g, bd);
        let mut q = query(&m, level, &dims, &metrics);
        q.report_type = rt;
        if g == Granularity::Hour {
            q.start_date = date("2024-06-30");
        }
        let rows = m
            .report_rows(&q)
            .unwrap_or_else(|e| panic!("{rt:?} {level:?} {g:?} {bd:?}: {e:?}"));
        assert!(!rows.is_empty(), "{rt:?} {level:?} {g:?} {bd:?}");
        let key = bd.dimensions()[0];
        for r in &rows {
            let d = r["dimensions"].as_object().unwrap();
            assert_eq!(d.len(), 3);
            assert!(d.contains_key(level.id_field()) && d.contains_key(time));
            assert!(values.contains(&d[key].as_str().unwrap()), "{r}");
            assert_eq!(r["metrics"].as_object().unwrap().len(), metrics.len());
        }
    }
    // Province is an ad-level breakdown only.
    for level in [Level::Advertiser, Level::Campaign, Level::AdGroup] {
        let dims = [level.id_field(), "stat_time_day", "province_id"];
        let mut q = query(&m, level, &dims, &["spend"]);
        q.report_type = ReportType::Audience;
        assert_eq!(code(m.report_rows(&q)).0, 40002, "{level:?}");
    }
}

#[test]
fn idle_accounts_and_idle_days_have_no_rows_at_any_level() {
    let cfg = SimConfig {
        today: today(),
        data: DataShape {
            advertisers: 10,
            idle_account_share: 0.6,
            idle_day_share: 0.3,
            ..Default::default()
        },
        ..SimConfig::default()
    };
    let m = Model::new(&cfg);
    let idle: Vec<bool> = m.advertisers.iter().map(|a| a.idle).collect();
    assert_eq!(idle.iter().filter(|i| **i).count(), 6, "{idle:?}");
    // The same seed picks the same accounts and days; another seed others.
    let again = Model::new(&cfg);
    assert_eq!(
        again.advertisers.iter().map(|a| a.idle).collect::<Vec<_>>(),
        idle
    );
    let other = Model::new(&SimConfig {
        seed: 7,
        ..cfg.clone()
    });
    assert_ne!(
        other.advertisers.iter().map(|a| a.idle).collect::<Vec<_>>(),
        idle
    );

    let rows = |id: u64, level: Level, dims: &[&str], lifetime: bool| {
        let mut q = query(&m, level, dims, &["spend", "impressions"]);
        q.advertiser_id = id;
        if lifetime {
            (q.lifetime, q.start_date, q.end_date) = (true, None, None);
        }
        m.report_rows(&q).unwrap()
    };
    let (mut idle_days, mut busy_days) = (0, 0);
    for adv in &m.advertisers {
        let days: Vec<String> = rows(
            adv.id,
            Level::Advertiser,
            &["advertiser_id", "stat_time_day"],
            false,
        )
        .iter()
        .map(|r| r["dimensions"]["stat_time_day"].as_str().unwrap()[..10].to_string())
        .collect();
        let lifetime = rows(adv.id, Level::Advertiser, &["advertiser_id"], true);
        if adv.idle {
            assert!(days.is_empty() && lifetime.is_empty(), "{}", adv.id);
            assert!(rows(adv.id, Level::Ad, &["ad_id", "stat_time_day"], false).is_empty());
            continue;
        }
        assert_eq!(lifetime.len(), 1);
        for day in 1..=30 {
            let date = NaiveDate::from_ymd_opt(2024, 6, day).unwrap();
            let text = date.format("%Y-%m-%d").to_string();
            let open = m.open_to_delivery(adv, crate::model::day_num(date));
            // A row on every day one of its ads delivers, which on an idle day none does.
            let delivers = m.advertiser_delivers_on(adv.id, date);
            assert!(open || !delivers, "{} {text}", adv.id);
            assert_eq!(days.contains(&text), delivers, "{} {text}", adv.id);
            if open {
                busy_days += 1;
                continue;
            }
            idle_days += 1;
            // Nothing at any level, by hour either.
            for (level, id_dim) in [(Level::Campaign, "campaign_id"), (Level::Ad, "ad_id")] {
                let mut q = query(&m, level, &[id_dim, "stat_time_hour"], &["spend"]);
                (q.advertiser_id, q.start_date, q.end_date) = (adv.id, Some(date), Some(date));
                assert!(m.report_rows(&q).unwrap().is_empty(), "{} {text}", adv.id);
            }
        }
    }
    // About 30% of the delivering accounts' days are idle.
    let share = idle_days as f64 / (idle_days + busy_days) as f64;
    assert!(
        (0.2..0.4).contains(&share),
        "{idle_days} idle of {}",
        idle_days + busy_days
    );
}

/// `advertiser_delivers_on` says what the reports serve, on every date the history may end on:
/// a day it names has rows at the advertiser, campaign and ad levels, by day and by hour, and
/// a day it does not name has none. A short history is where they parted: its first days are
/// open to delivery (not idle) but often come before the account's first ad.
#[test]
fn advertiser_delivers_on_agrees_with_the_rows_at_every_level_on_any_date() {
    let mut open_without_rows = 0;
    for offset in 0..40 {
        let cfg = SimConfig {
            today: today() + chrono::Days::new(offset),
            data: DataShape {
                advertisers: 6,
                campaigns_per_advertiser: 2,
                adgroups_per_campaign: 2,
                ads_per_adgroup: 3,
                days: 6,
                idle_account_share: 0.5,
                idle_day_share: 0.3,
                ..Default::default()
            },
            ..SimConfig::default()
        };
        let m = Model::new(&cfg);
        for adv in &m.advertisers {
            for date in m.first_day().iter_days().take(6) {
                let delivers = m.advertiser_delivers_on(adv.id, date);
                let open = m.open_to_delivery(adv, crate::model::day_num(date));
                open_without_rows += u32::from(open && !delivers);
                for (level, id_dim) in [
                    (Level::Advertiser, "advertiser_id"),
                    (Level::Campaign, "campaign_id"),
                    (Level::Ad, "ad_id"),
                ] {
                    for time in ["stat_time_day", "stat_time_hour"] {
                        let mut q = query(&m, level, &[id_dim, time], &["spend", "impressions"]);
                        (q.advertiser_id, q.start_date, q.end_date) =
                            (adv.id, Some(date), Some(date));
                        // Every row the advertiser's totals count: deleted entities', and
                        // TopView's (which lower levels answer only when asked for it).
                        let mut rows = m.report_rows(&q).unwrap();
                        if let Some(field) = level.status_filter_field() {
                            q.filtering = status_all(field);
                            rows.extend(m.report_rows(&q).unwrap());
                            q.filtering.push(buying_filter("RESERVATION_TOP_VIEW"));
                            rows.extend(m.report_rows(&q).unwrap());
                        }
                        assert_eq!(
                            !rows.is_empty(),
                            delivers,
                            "{} on {date} (history ending {}): {level:?} by {time}",
                            adv.id,
                            cfg.today
                        );
                    }
                }
            }
        }
    }
    // The case the old reading (a day that is not idle delivers) got wrong is common here.
    assert!(open_without_rows > 10, "{open_without_rows}");
}

#[test]
fn metrics_tiktok_documents_as_unsupported_get_40002_naming_them() {
    let m = model();
    // An attribute below its level, an advertiser-only daily metric at campaign level, a
    // name TikTok does not document: 40002 naming each, in TikTok's words.
    for (level, metric) in [
        (Level::Advertiser, "campaign_name"),
        (Level::Campaign, "adgroup_name"),
        (Level::AdGroup, "ad_text"),
        (Level::Campaign, "cash_spend"),
        (Level::Ad, "single_image_ctr"),
        (Level::Ad, "complete_payment_roass"),
    ] {
        let q = query(
            &m,
            level,
            &[level.id_field(), "stat_time_day"],
            &["spend", metric],
        );
        let (code_, message) = code(m.report_rows(&q));
        assert_eq!(code_, 40002, "{level:?} {metric}");
        assert_eq!(message, format!("Invalid metric fields: [{metric:?}]"));
    }
    // BASIC only.
    let mut q = query(&m, Level::Ad, &["ad_id", "gender"], &["billed_cost"]);
    q.report_type = ReportType::Audience;
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    // Paid focused views: not with a breakdown, fine with the id and the day.
    let q = query(
        &m,
        Level::Ad,
        &["ad_id", "country_code"],
        &["paid_engaged_view"],
    );
    assert_eq!(code(m.report_rows(&q)).0, 40002);
    let q = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["paid_engaged_view"],
    );
    assert!(m.report_rows(&q).is_ok());
    // The funnel is served at every level.
    for level in [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ] {
        let metrics = [
            "complete_payment_roas",
            "onsite_shopping_roas",
            "web_event_add_to_cart",
        ];
        let q = query(&m, level, &[level.id_field(), "stat_time_day"], &metrics);
        assert!(m.report_rows(&q).is_ok(), "{level:?}");
    }
}

#[test]
fn queries_wider_than_the_metric_limit_get_40067() {
    let every: Vec<&str> = crate::catalog::documented()
        .filter(|n| {
            let shape = crate::catalog::ReportShape {
                report_type: ReportType::Basic,
                level: Level::Ad,
                granularity: Granularity::Day,
                breakdown: false,
            };
            crate::catalog::check_metric(n, shape).is_ok()
        })
        .collect();
    assert!(every.len() > 1_000);
    let limit = crate::MetricRules::DEFAULT_MAX_METRICS;
    let m = model();
    let dims = ["ad_id", "stat_time_day"];
    // At the limit: served, even over a single day.
    let mut q = query(&m, Level::Ad, &dims, &every[..limit]);
    q.start_date = date("2024-06-30");
    assert!(m.report_rows(&q).is_ok());
    // One more: 40067 in TikTok's words, whatever the window.
    let mut q = query(&m, Level::Ad, &dims, &every[..=limit]);
    q.start_date = date("2024-06-30");
    let (c, message) = code(m.report_rows(&q));
    assert_eq!(c, 40067);
    assert!(message.starts_with("Your query is too large"), "{message}");
    // Asynchronous tasks have no such limit.
    assert!(m.validate_async(&q).is_ok());
    // The limit is a setting.
    let wide = Model::new(&SimConfig {
        today: today(),
        api: ApiBehaviour {
            metrics: crate::MetricRules {
                max_metrics_per_query: 2_000,
                ..Default::default()
            },
            ..ApiBehaviour::default()
        },
        ..SimConfig::default()
    });
    let q = query(&wide, Level::Ad, &dims, &every);
    assert!(wide.report_rows(&q).is_ok());
}

#[test]
fn metrics_it_is_told_to_refuse_get_40002_at_their_level_named_or_not() {
    let rules = |refusal_wording| crate::MetricRules {
        refused: vec![
            crate::RefusedMetric {
                metric: "clicks".into(),
                level: Some(Level::Campaign),
            },
            crate::RefusedMetric {
                metric: "reach".into(),
                level: None,
            },
        ],
        refusal_wording,
        ..Default::default()
    };
    let model_with = |metrics| {
        Model::new(&SimConfig {
            today: today(),
            api: ApiBehaviour {
                metrics,
                ..ApiBehaviour::default()
            },
            ..SimConfig::default()
        })
    };
    let m = model_with(rules(crate::RefusalWording::Named));
    let campaign = ["campaign_id", "stat_time_day"];
    // Refused at its level, named in TikTok's words; served at the others.
    let q = query(&m, Level::Campaign, &campaign, &["spend", "clicks"]);
    assert_eq!(
        code(m.report_rows(&q)),
        (40002, r#"Invalid metric fields: ["clicks"]"#.to_string())
    );
    let q = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["spend", "clicks"],
    );
    assert!(m.report_rows(&q).is_ok());
    // Refused at every level, each refused metric named; the others answer.
    let q = query(
        &m,
        Level::Ad,
        &["ad_id", "stat_time_day"],
        &["reach", "spend"],
    );
    assert_eq!(
        code(m.report_rows(&q)).1,
        r#"Invalid metric fields: ["reach"]"#
    );
    let q = query(
        &m,
        Level::Campaign,
        &campaign,
        &["reach", "clicks", "spend"],
    );
    assert_eq!(
        code(m.report_rows(&q)).1,
        r#"Invalid metric fields: ["reach", "clicks"]"#
    );
    let q = query(&m, Level::Campaign, &campaign, &["spend", "impressions"]);
    assert!(m.report_rows(&q).is_ok());
    // Asynchronous tasks are refused alike.
    let q = query(&m, Level::Campaign, &campaign, &["clicks"]);
    assert!(m.validate_async(&q).is_err());
    // The wording that names none.
    let m = model_with(rules(crate::RefusalWording::Unnamed));
    let q = query(&m, Level::Campaign, &campaign, &["spend", "clicks"]);
    assert_eq!(
        code(m.report_rows(&q)),
        (40002, "Invalid metric fields.".to_string())
    );
    // None refused by default.
    let m = model();
    let q = query(&m, Level::Campaign, &campaign, &["reach", "clicks"]);
    assert!(m.report_rows(&q).is_ok());
}

/// A figure of a row as a number, whatever its wire format.
fn num(row: &Value, metric: &str) -> f64 {
    match &row["metrics"][metric] {
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("{metric}: {s}")),
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("{metric}: {other}"),
    }
}

#[test]
fn funnels_narrow_stage_by_stage_and_roas_is_value_over_spend() {
    // Enough campaigns for every objective.
    let m = Model::new(&SimConfig {
        today: today(),
        data: DataShape {
            campaigns_per_advertiser: 14,
            ..DataShape::default()
        },
        ..SimConfig::default()
    });
    let metrics = [
        "spend",
        "total_pageview",
        "web_event_add_to_cart",
        "initiate_checkout",
        "complete_payment",
        "complete_payment_roas",
        "value_per_complete_payment",
        "total_web_event_add_to_cart_value",
        "onsite_on_web_detail",
        "onsite_on_web_cart",
        "onsite_initiate_checkout_count",
        "onsite_shopping",
        "total_onsite_shopping_value",
        "onsite_shopping_roas",
    ];
    let (mut website_payments, mut shop_payments) = (0.0, 0.0);
    let levels = [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ];
    for (level, advertiser_id) in levels
        .into_iter()
        .flat_map(|l| m.advertiser_ids().into_iter().map(move |a| (l, a)))
    {
        let mut q = query(&m, level, &[level.id_field(), "stat_time_day"], &metrics);
        q.advertiser_id = advertiser_id;
        let rows = m.report_rows(&q).unwrap();
        assert!(!rows.is_empty());
        for r in &rows {
            let f = |name| num(r, name);
            assert!(f("total_pageview") >= f("web_event_add_to_cart"), "{r}");
            assert!(f("web_event_add_to_cart") >= f("initiate_checkout"), "{r}");
            assert!(f("initiate_checkout") >= f("complete_payment"), "{r}");
            assert!(f("onsite_on_web_detail") >= f("onsite_on_web_cart"), "{r}");
            assert!(
                f("onsite_on_web_cart") >= f("onsite_initiate_checkout_count"),
                "{r}"
            );
            assert!(
                f("onsite_initiate_checkout_count") >= f("onsite_shopping"),
                "{r}"
            );
            let website_value = f("value_per_complete_payment") * f("complete_payment");
            assert!(
                f("total_web_event_add_to_cart_value") + 0.001 >= website_value * 0.99,
                "{r}"
            );
            if f("spend") > 0.0 {
                let roas = f("total_onsite_shopping_value") / f("spend");
                assert!((f("onsite_shopping_roas") - roas).abs() <= 0.011, "{r}");
                // value_per_complete_payment is rounded to 0.001: compare within that.
                let roas = website_value / f("spend");
                let slack = 0.011 + f("complete_payment") * 0.001 / f("spend");
                assert!((f("complete_payment_roas") - roas).abs() <= slack, "{r}");
            }
            website_payments += f("complete_payment");
            shop_payments += f("onsite_shopping");
        }
    }
    assert!(website_payments > 0.0 && shop_payments > 0.0);
}

#[test]
fn a_funnel_an_entity_does_not_run_is_zero() {
    let m = model();
    let metrics = [
        "promotion_type",
        "objective_type",
        "app_install",
        "total_purchase_value",
        "skan_total_purchase",
        "complete_payment",
        "complete_payment_roas",
        "onsite_shopping",
        "offline_total_crm_events",
    ];
    let q = query(
        &m,
        Level::AdGroup,
        &["adgroup_id", "stat_time_day"],
        &metrics,
    );
    let rows = m.report_rows(&q).unwrap();
    let (mut app_rows, mut website_rows, mut app_installs, mut website_payments) = (0, 0, 0.0, 0.0);
    for r in &rows {
        let f = |name| num(r, name);
        let app = r["metrics"]["promotion_type"] == "APP_ANDROID";
        let objective = r["metrics"]["objective_type"].as_str().unwrap();
        if app {
            app_rows += 1;
            app_installs += f("app_install");
            assert_eq!(f("complete_payment"), 0.0, "{r}");
            assert_eq!(r["metrics"]["complete_payment_roas"], "0.00", "{r}");
        } else {
            website_rows += 1;
            website_payments += f("complete_payment");
            for metric in ["app_install", "total_purchase_value", "skan_total_purchase"] {
                assert_eq!(f(metric), 0.0, "{metric}: {r}");
            }
        }
        if objective != "CONVERSIONS" {
            assert_eq!(f("onsite_shopping"), 0.0, "{r}");
        }
        if objective != "LEAD_GENERATION" {
            assert_eq!(f("offline_total_crm_events"), 0.0, "{r}");
        }
    }
    assert!(
        app_rows > 0 && website_rows > 0,
        "{app_rows} {website_rows}"
    );
    assert!(app_installs > 0.0 && website_payments > 0.0);
}

#[test]
fn funnel_days_sum_their_hours() {
    let m = model();
    let metrics = [
        "web_event_add_to_cart",
        "initiate_checkout",
        "onsite_on_web_cart",
    ];
    let mut q = query(
        &m,
        Level::Advertiser,
        &["advertiser_id", "stat_time_day"],
        &metrics,
    );
    q.start_date = date("2024-06-20");
    q.end_date = date("2024-06-20");
    let day = m.report_rows(&q).unwrap();
    let mut hq = query(
        &m,
        Level::Advertiser,
        &["advertiser_id", "stat_time_hour"],
        &metrics,
    );
    hq.start_date = q.start_date;
    hq.end_date = q.end_date;
    let hours = m.report_rows(&hq).unwrap();
    for metric in metrics {
        let summed: f64 = hours.iter().map(|r| num(r, metric)).sum();
        assert_eq!(summed, num(&day[0], metric), "{metric}");
        assert!(summed > 0.0, "{metric}");
    }
}

/// Additive metrics of every kind the levels sum: money, counts, video, engagement and each
/// funnel's (app, website, Shop).
const ADDITIVE: &[&str] = &[
    "spend",
    "impressions",
    "clicks",
    "conversion",
    "video_play_actions",
    "likes",
    "app_install",
    "complete_payment",
    "total_pageview",
    "web_event_add_to_cart",
    "initiate_checkout",
    "onsite_on_web_cart",
    "onsite_shopping",
    "total_onsite_shopping_value",
    "vta_conversion",
    "cta_conversion",
    "vta_purchase",
    "cta_purchase",
    "total_complete_payment_rate",
    "total_value_per_pageview",
];

/// A figure as an exact integer with its decimals: counts as they are, money in thousandths
/// (with how many decimals it was sent with).
fn exact(row: &Value, metric: &str) -> (i128, u32) {
    let text = match &row["metrics"][metric] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("{metric}: {other}"),
    };
    match text.split_once('.') {
        Some((units, decimals)) => {
            let d = decimals.len() as u32;
            assert!(d <= 3, "{metric}: {text}");
            let value: i128 = format!("{units}{decimals}").parse().unwrap();
            (value * 10i128.pow(3 - d), d)
        }
        None => (text.parse().unwrap(), 0),
    }
}

/// Per (time, breakdown value, metric): the sum over `rows` and the tolerance TikTok's per-row
/// rounding allows (half a unit of the last decimal sent, per row summed; 0 for counts).
type LevelSums = std::collections::BTreeMap<(String, String, &'static str), (i128, i128)>;

fn level_sums(rows: &[Value], time: &str, breakdown: Option<&str>, into: &mut LevelSums) {
    for r in rows {
        let at = r["dimensions"][time].as_str().unwrap().to_string();
        let value = breakdown
            .map(|b| r["dimensions"][b].as_str().unwrap().to_string())
            .unwrap_or_default();
        for &metric in ADDITIVE {
            let (v, decimals) = exact(r, metric);
            // Twice the tolerance, in thousandths: one unit of the last decimal sent.
            let slack = if decimals == 0 {
                0
            } else {
                10i128.pow(3 - decimals)
            };
            let sum = into.entry((at.clone(), value.clone(), metric)).or_default();
            sum.0 += v;
            sum.1 += slack;
        }
    }
}

/// Whether two levels' sums agree: the same keys, and per key equal within the rounding both
/// sides allow.
fn assert_sums_agree(upper: &LevelSums, lower: &LevelSums, what: &str) {
    let only_in = |a: &LevelSums, b: &LevelSums| {
        a.keys()
            .filter(|k| !b.contains_key(*k))
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
    };
    let (above, below) = (only_in(upper, lower), only_in(lower, upper));
    assert!(
        above.is_empty() && below.is_empty(),
        "{what}: buckets only above {above:?}, only below {below:?}"
    );
    for (key, (total, slack)) in upper {
        let (sum, lower_slack) = lower[key];
        assert!(
            (total - sum).abs() * 2 <= slack + lower_slack,
            "{what} {key:?}: {total} above, {sum} summed below"
        );
    }
}

/// The rows of a level, every status and every buying type: the default answer and the
/// TopView one (asked alone, as TikTok wants it), or the advertiser's totals.
fn every_row(m: &Model, level: Level, dims: &[&str], hourly: bool) -> Vec<Value> {
    let mut q = query(m, level, dims, ADDITIVE);
    if hourly {
        (q.start_date, q.end_date) = (date("2024-06-20"), date("2024-06-20"));
    }
    let Some(field) = level.status_filter_field() else {
        return m.report_rows(&q).unwrap();
    };
    q.filtering = status_all(field);
    let mut rows = m.report_rows(&q).unwrap();
    q.filtering.push(buying_filter("RESERVATION_TOP_VIEW"));
    rows.extend(m.report_rows(&q).unwrap());
    rows
}

/// TikTok's levels add up: per day (and per hour), and per breakdown value, the campaigns'
/// rows sum to the advertiser's totals, the ad groups' to the campaigns', the ads' to the ad
/// groups', deleted entities and every buying type included.
#[test]
fn every_level_adds_up_to_the_one_above_by_day_and_by_hour() {
    let m = Model::new(&SimConfig {
        today: today(),
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 12,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
    assert!(adv
        .campaigns
        .iter()
        .any(|c| c.buying == BuyingType::TopView));
    assert!(adv.ads.iter().any(|a| a.life.deleted));
    let levels = [
        Level::Advertiser,
        Level::Campaign,
        Level::AdGroup,
        Level::Ad,
    ];
    for (time, hourly) in [("stat_time_day", false), ("stat_time_hour", true)] {
        for breakdown in [None, Some("country_code")] {
            let sums: Vec<LevelSums> = levels
                .iter()
                .map(|&level| {
                    let mut dims = vec![level.id_field(), time];
                    dims.extend(breakdown);
                    let rows = every_row(&m, level, &dims, hourly);
                    let mut sums = LevelSums::new();
                    level_sums(&rows, time, breakdown, &mut sums);
                    sums
                })
                .collect();
            assert!(
                sums[0].values().any(|(v, _)| *v > 0),
                "{time} {breakdown:?}: no delivery"
            );
            for pair in 0..3 {
                let what = format!(
                    "{:?} rows by {time} {breakdown:?} against {:?}",
                    levels[pair + 1],
                    levels[pair]
                );
                assert_sums_agree(&sums[pair], &sums[pair + 1], &what);
            }
            assert_sums_agree(&sums[0], &sums[3], "the ad rows against the advertiser's");
        }
    }
}

/// Under the ads cap the campaigns, ad groups and ads of one query's processed ads still add
/// up with each other (each query processes the newest ads it selects).
#[test]
fn levels_add_up_under_the_ads_cap() {
    let m = Model::new(&SimConfig {
        today: today(),
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 6,
            auction_only_every: 1,
            ..Default::default()
        },
        api: ApiBehaviour {
            ads_cap: 7,
            ..Default::default()
        },
        ..SimConfig::default()
    });
    let levels = [Level::Campaign, Level::AdGroup, Level::Ad];
    let sums: Vec<LevelSums> = levels
        .iter()
        .map(|&level| {
            let mut q = query(&m, level, &[level.id_field(), "stat_time_day"], ADDITIVE);
            q.filtering = status_all(level.status_filter_field().unwrap());
            let plan = m.report_plan(&q).unwrap();
            assert!(plan.ads_throttled(), "{level:?}");
            let mut sums = LevelSums::new();
            level_sums(
                &m.report_rows(&q).unwrap(),
                "stat_time_day",
                None,
                &mut sums,
            );
            sums
        })
        .collect();
    assert!(sums[0].values().any(|(v, _)| *v > 0));
    assert_sums_agree(
        &sums[0],
        &sums[1],
        "ad groups against campaigns under the cap",
    );
    assert_sums_agree(&sums[1], &sums[2], "ads against ad groups under the cap");
}
