//! One capture of every stream (the 25 core resources and every extra) against a simulated
//! account that holds reach & frequency and TopView campaigns and more ads than one report
//! processes: every request is one the simulator accepts, and every report binding emits exactly
//! the rows the simulator's model holds, with their values, at every level and buying type. The
//! one exception is TikTok's own: an advertiser-level report by country over the cap, which no
//! asynchronous task can read (tasks return country names for codes), keeps the capped figures
//! with a warning.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{flow_session, sim_config};
use serde_json::{json, Value};
use source_tiktok_marketing::{config, registry};
use tiktok_sim::catalog::{Level, ReportType};
use tiktok_sim::{
    self as simulator, ApiBehaviour, AsyncReports, DataShape, EntityKind, Model, RecordedRequest,
    ReportQuery, SimConfig,
};

/// Three accounts of 60 ads: the first two mix auction, reach & frequency and TopView campaigns,
/// the third runs auction only. The simulated cap is 25 ads, so every auction report of every
/// account is over it (TopView ones are not).
fn account() -> SimConfig {
    SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 3,
            campaigns_per_advertiser: 10,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 3,
            days: 3,
            auction_only_every: 3,
            ..Default::default()
        },
        api: ApiBehaviour {
            ads_cap: 25,
            // Every core resource answers, the four hourly audience ones included.
            hourly_audience_refused: false,
            ..Default::default()
        },
        async_reports: AsyncReports {
            // The app may run asynchronous reports, TikTok's way past the cap where no id filter
            // narrows a report (the advertiser level).
            allowlisted: true,
            // Done at the first check: task requests go 1.1 s apart, and there are two dozen.
            task_checks: 1,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// A value as text, so a metric TikTok sends as a decimal string compares with the typed number
/// the connector emits; `"-"` and `""` are null, as in records.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) if s == "-" || s.is_empty() => "null".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `dimensions` and `metrics` of a row, as comparable text, by the row's key.
fn by_key(rows: impl IntoIterator<Item = Value>, advertiser: u64) -> BTreeMap<String, String> {
    rows.into_iter()
        .map(|row| {
            let part = |name: &str| -> Vec<(String, String)> {
                row[name]
                    .as_object()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                    .unwrap_or_default()
            };
            let dims = part("dimensions");
            let key = format!(
                "{advertiser}|{}",
                dims.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            (key, format!("{:?}", part("metrics")))
        })
        .collect()
}

/// The query a recorded report request made, without the id filters that split it.
fn unsplit_query(r: &RecordedRequest) -> ReportQuery {
    let p = &r.params;
    let list = |name: &str| -> Vec<String> { serde_json::from_str(&p[name]).unwrap() };
    let date = |name: &str| p.get(name).map(|d| d.parse().unwrap());
    let filtering: Vec<Value> = p
        .get("filtering")
        .map(|f| serde_json::from_str::<Vec<Value>>(f).unwrap())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| {
            !matches!(
                f["field_name"].as_str(),
                Some("campaign_ids" | "adgroup_ids" | "ad_ids")
            )
        })
        .collect();
    ReportQuery {
        advertiser_id: p["advertiser_id"].parse().unwrap(),
        report_type: ReportType::from_api(&p["report_type"]).unwrap(),
        level: Level::from_data_level(&p["data_level"]).unwrap(),
        dimensions: list("dimensions"),
        metrics: list("metrics"),
        start_date: date("start_date"),
        end_date: date("end_date"),
        lifetime: p.get("query_lifetime").is_some_and(|v| v == "true"),
        filtering,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_stream_every_buying_type_and_the_ads_cap_at_every_level() {
    let sim = simulator::spawn(account()).await.unwrap();
    // The same data with no cap: what TikTok holds, as opposed to what one report processes.
    let truth = Model::new(&SimConfig {
        api: ApiBehaviour {
            ads_cap: usize::MAX,
            ..account().api
        },
        ..account()
    });
    let capped = sim.model();
    let today = capped.first_day().succ_opt().unwrap().succ_opt().unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        &capped.first_day().to_string(),
        json!({"end_date": today.to_string()}),
    );
    let parsed = config::parse(&cfg).unwrap();
    let streams: Vec<String> = registry::catalog(&parsed)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert!(streams.len() > 25, "{streams:?}");
    let names: Vec<&str> = streams.iter().map(String::as_str).collect();
    let session = tokio::task::spawn_blocking({
        let cfg = cfg.clone();
        let names: Vec<String> = streams.clone();
        move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            flow_session(&cfg, &names, &json!({}), &[])
        }
    })
    .await
    .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);

    // The data holds what this test is about.
    let advertisers = capped.advertiser_ids();
    let buying: BTreeSet<String> = advertisers
        .iter()
        .flat_map(|a| truth.entities(EntityKind::Campaign, *a, true))
        .map(|c| c["buying_type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(buying.len(), 3, "{buying:?}");

    // Zero refusals. The one exception is TikTok's own: `pixel/instant_page/event/` answers
    // 40002 for objective/goal pairs it does not support, and no document lists them.
    let requests = sim.requests();
    let refused: Vec<&RecordedRequest> = requests
        .iter()
        .filter(|r| r.code != 0)
        .filter(|r| !(r.path == "pixel/instant_page/event/" && r.code == 40002))
        .collect();
    assert!(refused.is_empty(), "refused: {refused:?}");
    assert!(
        requests.iter().any(|r| r.ads_throttled),
        "the account must be over the cap for this test to mean anything"
    );

    // Entities: every campaign, ad group and ad of every buying type.
    for (stream, kind, field) in [
        ("campaigns", EntityKind::Campaign, "campaign_id"),
        ("ad_groups", EntityKind::AdGroup, "adgroup_id"),
        ("ads", EntityKind::Ad, "ad_id"),
    ] {
        let binding = names.iter().position(|n| *n == stream).unwrap();
        let expected: Vec<(u64, String)> = advertisers
            .iter()
            .flat_map(|a| truth.entities(kind, *a, true))
            .map(|e| {
                (
                    e[field].as_str().unwrap().parse().unwrap(),
                    e["modify_time"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut got: Vec<(u64, String)> = session
            .docs
            .iter()
            .filter(|(b, _)| *b == binding)
            .map(|(_, d)| {
                (
                    d[field].as_u64().unwrap(),
                    d["modify_time"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        got.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected, "{stream}");
    }

    // Reports: for every query the connector made, the model's rows of that query unsplit and
    // uncapped are exactly what the binding emitted, values included.
    let mut checked_levels = BTreeSet::new();
    let mut capped_streams = BTreeSet::new();
    let mut topview_rows = 0;
    for (binding, stream) in names.iter().enumerate() {
        let resolved = registry::resolve(stream, &parsed).unwrap();
        let Some(spec) = resolved.report() else {
            continue;
        };
        let dimensions = serde_json::to_string(&spec.dimensions).unwrap();
        let made: Vec<ReportQuery> = requests
            .iter()
            .filter(|r| {
                r.path == "report/integrated/get/"
                    && r.params["dimensions"] == dimensions
                    && r.params["data_level"] == spec.level.data_level()
                    && r.params["report_type"] == spec.report_type.as_api()
                    // The stream's own queries, not the activity index's (same dimensions at
                    // advertiser level, other metrics).
                    && r.params["metrics"] == serde_json::to_string(&spec.metrics).unwrap()
            })
            .map(unsplit_query)
            .filter(|q| !q.filtering.iter().any(|f| f["field_name"] == "buying_type"))
            .collect();
        // What TikTok holds, independently of which queries the connector chose to make: every
        // day of the range (time dimensions) or the query it made (totals), for every
        // advertiser, and below the advertiser level TopView delivery besides.
        let timed = spec.dimensions.iter().any(|d| d.starts_with("stat_time_"));
        let mut expected = BTreeMap::new();
        let mut as_answered = BTreeMap::new();
        for advertiser in &advertisers {
            let mine: Vec<&ReportQuery> = made
                .iter()
                .filter(|q| q.advertiser_id == *advertiser)
                .collect();
            let template = mine
                .first()
                .unwrap_or_else(|| panic!("{stream}: advertiser {advertiser} never queried"));
            let mut base: Vec<ReportQuery> = Vec::new();
            if timed {
                let mut day = capped.first_day();
                while day <= today {
                    base.push(ReportQuery {
                        start_date: Some(day),
                        end_date: Some(day),
                        lifetime: false,
                        ..(*template).clone()
                    });
                    day = day.succ_opt().unwrap();
                }
            } else {
                let distinct: BTreeMap<String, ReportQuery> = mine
                    .iter()
                    .map(|q| (format!("{q:?}"), (*q).clone()))
                    .collect();
                base.extend(distinct.into_values());
            }
            for q in base {
                let mut scopes = vec![q.clone()];
                if q.level != Level::Advertiser {
                    let mut topview = q.clone();
                    topview.filtering.push(json!({"field_name": "buying_type",
                        "filter_type": "IN", "filter_value": "[\"RESERVATION_TOP_VIEW\"]"}));
                    scopes.push(topview);
                }
                for (i, q) in scopes.iter().enumerate() {
                    let rows = truth.report_rows(q).unwrap();
                    if i == 1 {
                        topview_rows += rows.len();
                    }
                    expected.extend(by_key(rows, q.advertiser_id));
                    as_answered.extend(by_key(capped.report_rows(q).unwrap(), q.advertiser_id));
                }
            }
        }
        let got: BTreeMap<String, String> = session
            .docs
            .iter()
            .filter(|(b, _)| *b == binding)
            .flat_map(|(_, d)| by_key([d.clone()], d["advertiser_id"].as_u64().unwrap()))
            .collect();
        let emitted = session.docs.iter().filter(|(b, _)| *b == binding).count();
        assert_eq!(emitted, got.len(), "{stream}: a key emitted twice");
        let keys = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
        assert!(!expected.is_empty(), "{stream}");
        assert_ne!(
            expected, as_answered,
            "{stream}: the unsplit answer would have been partial"
        );
        let by_country = spec.dimensions.iter().any(|d| d == "country_code");
        if spec.level.data_level() == "AUCTION_ADVERTISER" && by_country {
            // TikTok's asynchronous reports return country_code as the country's name (a
            // known issue in its Create an asynchronous report task doc): no task can read
            // this one, so its rows and figures are what the capped answer holds, with the
            // warning. The totals of the newest ads have no row in the hours only older ones
            // delivered: its rows are some of the whole model's.
            assert!(
                keys(&got).is_subset(&keys(&expected)),
                "{stream}: rows differ"
            );
            assert_eq!(got, as_answered, "{stream}");
            capped_streams.insert(stream.to_string());
        } else {
            // Every other level and report, the advertiser's included (no id filter narrows
            // it; a task, which TikTok does not cap, reads it whole), holds the model's rows
            // and values.
            assert_eq!(keys(&got), keys(&expected), "{stream}: rows differ");
            assert!(got == expected, "{stream}: values differ from the model's");
        }
        checked_levels.insert(spec.level.data_level());
    }
    assert_eq!(checked_levels.len(), 4, "{checked_levels:?}");
    assert!(topview_rows > 0, "no TopView delivery was checked");
    // No report was left capped but the by-country one, whose every warning says why, and
    // every other advertiser-level one over the cap went through a task: created, checked
    // until done, downloaded.
    assert_eq!(
        capped_streams.into_iter().collect::<Vec<_>>(),
        ["advertisers_audience_reports_by_country_daily"]
    );
    let capped_warnings: Vec<&str> = session
        .output
        .stderr
        .lines()
        .filter(|l| l.contains("no id filter can narrow it further"))
        .collect();
    assert!(!capped_warnings.is_empty());
    assert!(
        capped_warnings
            .iter()
            .all(|l| l.contains("country_code as the country's name")),
        "{capped_warnings:?}"
    );
    let asked = |path: &str| requests.iter().filter(|r| r.path == path).count();
    assert!(asked("report/task/create/") > 0);
    assert_eq!(asked("report/task/download/"), asked("report/task/create/"));
    assert!(asked("report/task/check/") >= asked("report/task/create/"));
    // TopView campaigns are listed once per account, shared by every binding that needs them;
    // an account without any is asked for no TopView ad group, ad, ad count or delivery.
    let topview_asks = |path: &str, advertiser: &str| {
        requests
            .iter()
            .filter(|r| {
                r.path == path
                    && r.params.get("advertiser_id").map(String::as_str) == Some(advertiser)
                    && r.params
                        .get("filtering")
                        .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))
            })
            .count()
    };
    for (i, advertiser) in advertisers.iter().enumerate() {
        let advertiser = advertiser.to_string();
        assert_eq!(
            topview_asks("campaign/get/", &advertiser),
            1,
            "{advertiser}"
        );
        let expected = if i == 2 { 0 } else { 1 };
        assert_eq!(
            topview_asks("adgroup/get/", &advertiser),
            expected,
            "{advertiser}"
        );
        // The listing, the count and (over the cap) the ids to split by.
        assert_eq!(
            topview_asks("ad/get/", &advertiser) > 0,
            i != 2,
            "{advertiser}"
        );
    }
    // Advertisers without TopView ads are never asked for TopView delivery.
    let auction_only = advertisers[2].to_string();
    assert!(!requests.iter().any(|r| r.path == "report/integrated/get/"
        && r.params.get("advertiser_id") == Some(&auction_only)
        && r.params
            .get("filtering")
            .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))));
    // Every extra captured something too.
    for (binding, stream) in names.iter().enumerate() {
        let n = session.docs.iter().filter(|(b, _)| *b == binding).count();
        assert!(n > 0, "{stream} captured nothing");
    }
}

/// A server that does not implement buying types (a hand-made fake API, an old proxy) answers
/// the TopView listing with every campaign. The connector notices (a campaign stands in both
/// listings), warns once, and asks nothing apart for TopView: no repeated listing or report
/// query, and every row once, TopView campaigns included (the default listing holds them).
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_ignores_buying_types_is_asked_nothing_apart_for_topview() {
    no_topview_apart(
        simulator::BuyingTypes::Ignored,
        "does not apply filtering.buying_types",
    )
    .await;
}

/// A server that refuses the buying types filter as a parameter error (40002) is treated the
/// same way: its default listing holds every campaign.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_refuses_buying_types_is_asked_nothing_apart_for_topview() {
    no_topview_apart(
        simulator::BuyingTypes::Refused,
        "refuses filtering.buying_types",
    )
    .await;
}

async fn no_topview_apart(buying_types: simulator::BuyingTypes, says: &str) {
    let sim = simulator::spawn(SimConfig {
        api: ApiBehaviour {
            buying_types,
            ads_cap: usize::MAX,
            ..account().api
        },
        ..account()
    })
    .await
    .unwrap();
    let model = sim.model();
    let today = model.first_day().succ_opt().unwrap().succ_opt().unwrap();
    let cfg = sim_config(
        &sim.base_url(),
        &model.first_day().to_string(),
        json!({"end_date": today.to_string()}),
    );
    let streams = ["campaigns", "ad_groups", "ads", "ads_reports_daily"];
    let session =
        tokio::task::spawn_blocking(move || flow_session(&cfg, &streams, &json!({}), &[]))
            .await
            .unwrap();
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let warnings = session.output.stderr.matches(says).count();
    assert_eq!(warnings, 1, "{}", session.output.stderr);

    let requests = sim.requests();
    let topview = |path: &str| {
        requests
            .iter()
            .filter(|r| {
                r.path == path
                    && r.params
                        .get("filtering")
                        .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))
            })
            .count()
    };
    // One TopView campaign listing per account (the one that shows the filter is ignored; a
    // refusal is one for all), and nothing else asked for TopView.
    let accounts = model.advertiser_ids().len();
    if buying_types == simulator::BuyingTypes::Ignored {
        assert_eq!(topview("campaign/get/"), accounts);
    } else {
        assert!((1..=accounts).contains(&topview("campaign/get/")));
    }
    assert_eq!(topview("adgroup/get/"), 0);
    assert_eq!(topview("ad/get/"), 0);
    assert_eq!(topview("report/integrated/get/"), 0);
    // The campaigns' default listing is asked once per account, shared with the binding.
    let listings = requests
        .iter()
        .filter(|r| {
            r.path == "campaign/get/"
                && !r
                    .params
                    .get("filtering")
                    .is_some_and(|f| f.contains("RESERVATION_TOP_VIEW"))
        })
        .count();
    assert_eq!(listings, model.advertiser_ids().len());

    // Every row once; TopView campaigns come with the others.
    for (binding, key) in [(0, "campaign_id"), (1, "adgroup_id"), (2, "ad_id")] {
        let ids: Vec<String> = session
            .docs
            .iter()
            .filter(|(b, _)| *b == binding)
            .map(|(_, d)| text(&d[key]))
            .collect();
        let distinct: BTreeSet<&String> = ids.iter().collect();
        assert!(!ids.is_empty(), "{key}");
        assert_eq!(distinct.len(), ids.len(), "{key} emitted twice");
    }
    assert!(session
        .docs
        .iter()
        .any(|(b, d)| *b == 0 && d["buying_type"] == "RESERVATION_TOP_VIEW"));
    let report_keys: Vec<String> = session
        .docs
        .iter()
        .filter(|(b, _)| *b == 3)
        .map(|(_, d)| format!("{}/{}", text(&d["ad_id"]), text(&d["stat_time_day"])))
        .collect();
    let distinct: BTreeSet<&String> = report_keys.iter().collect();
    assert!(!report_keys.is_empty());
    assert_eq!(
        distinct.len(),
        report_keys.len(),
        "report rows emitted twice"
    );
}
