//! Captures of an agency-like set of ad accounts (half of them idle, the others idle on some
//! days) with the streams discovery enables: a backfill, then the next day's run from its state.
//! With the activity index the connector makes far fewer requests and captures exactly the same
//! rows and states as when it reads every day.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, AssetCounts, DataShape, SimConfig};

use crate::common::{flow_in_process, flow_session, sim_config, Session};

/// What Flow discovery enables by default: the registry's rows that are not opt-in (the core
/// resources but the hourly audience reports).
pub(crate) fn default_streams() -> Vec<&'static str> {
    let streams: Vec<&'static str> = source_tiktok_marketing::registry::STREAMS
        .iter()
        .filter(|row| !row.disabled_by_default)
        .map(|row| row.name)
        .collect();
    assert_eq!(streams.len(), 21, "21 streams are enabled by default");
    streams
}

pub(crate) fn agency(today: NaiveDate, days: u32) -> SimConfig {
    SimConfig {
        today,
        data: DataShape {
            advertisers: 6,
            campaigns_per_advertiser: 2,
            adgroups_per_campaign: 2,
            ads_per_adgroup: 3,
            days,
            idle_account_share: 0.5,
            idle_day_share: 0.3,
            ..Default::default()
        },
        ..SimConfig::default()
    }
}

/// Requests the run made in all (from its last log line).
pub(crate) fn requests(session: &Session) -> u64 {
    session
        .output
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "Capture finished.")
        .and_then(|l| l["requests"].as_u64())
        .expect("a Capture finished. log line")
}

/// Requests the run planned in all (from its plan log line).
pub(crate) fn planned(session: &Session) -> u64 {
    session
        .output
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Capture plan"))
        })
        .and_then(|l| l["planned_requests"].as_u64())
        .expect("a Capture plan log line")
}

/// Requests per stream (from the log), for failure messages.
pub(crate) fn requests_per_stream(session: &Session) -> BTreeMap<String, u64> {
    session
        .output
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "Stream finished.")
        .filter_map(|l| Some((l["stream"].as_str()?.to_string(), l["requests"].as_u64()?)))
        .collect()
}

/// The rows of each binding, as canonical JSON text.
fn rows(session: &Session) -> BTreeMap<usize, BTreeSet<String>> {
    let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (binding, doc) in &session.docs {
        out.entry(*binding).or_default().insert(doc.to_string());
    }
    out
}

/// One day's session against a simulator whose today is `today`, with or without the index.
async fn day(
    today: NaiveDate,
    days: u32,
    end_date: Option<NaiveDate>,
    state: &Value,
    index: bool,
) -> Session {
    let sim = simulator::spawn(agency(today, days)).await.unwrap();
    let start = (today - Days::new(days as u64 - 1)).to_string();
    let mut extra = json!({"advanced": {"requests_per_second": 100}});
    if let Some(end) = end_date {
        extra["end_date"] = json!(end.to_string());
    }
    let config = sim_config(&sim.base_url(), &start, extra);
    let state = state.clone();
    // One instant for every run of the test, so runs with and without the index leave the same
    // entity cursors (they stay a day behind the start of the listing).
    let noon = format!("{}T12:00:00Z", crate::common::today());
    let options = source_tiktok_marketing::protocol::RunOptions {
        no_activity_index: !index,
        ..crate::common::at(&noon)
    };
    let session = flow_in_process(&config, &default_streams(), &state, options).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    sim.shutdown().await;
    session
}

#[tokio::test(flavor = "multi_thread")]
async fn the_activity_index_skips_idle_days_and_loses_no_row() {
    let today = crate::common::today();
    let yesterday = today - Days::new(1);
    // Yesterday's run read up to today (its tomorrow); today's run resumes from its state.
    let mut states = [json!({}), json!({})];
    // The backfill needs at most half the requests; the next day's run, mostly entity lists and
    // lifetime reports at this size, fewer.
    for (sim_today, days, end_date, most) in
        [(yesterday, 20, Some(today), 0.5), (today, 21, None, 0.75)]
    {
        let full = day(sim_today, days, end_date, &states[0], false).await;
        let indexed = day(sim_today, days, end_date, &states[1], true).await;
        let (all, some) = (rows(&full), rows(&indexed));
        assert_eq!(
            all.keys().count(),
            default_streams().len(),
            "every stream has rows"
        );
        for (binding, stream) in default_streams().iter().enumerate() {
            assert_eq!(
                all.get(&binding),
                some.get(&binding),
                "{stream}: the rows differ with the activity index ({sim_today})"
            );
        }
        // The same cursors (the rows-per-day hints differ: the index skips idle days).
        assert_eq!(
            without_rows_hints(&full.state),
            without_rows_hints(&indexed.state),
            "the same cursors ({sim_today})"
        );
        let (before, after) = (requests(&full), requests(&indexed));
        assert!(
            after as f64 <= before as f64 * most,
            "{sim_today}: {after} requests with the index, {before} without: {:?} against {:?}",
            requests_per_stream(&indexed),
            requests_per_stream(&full),
        );
        // The plan made before the work is close to what was done.
        for (session, label) in [(&full, "without"), (&indexed, "with")] {
            let (plan, made) = (planned(session) as f64, requests(session) as f64);
            assert!(
                (plan - made).abs() <= made * 0.1,
                "{sim_today}, {label} the index: planned {plan}, made {made}"
            );
        }
        // A first run says its plan has no page counts to go by.
        if states[1] == json!({}) {
            let plan_line = indexed
                .output
                .stderr
                .lines()
                .find(|l| l.contains("Capture plan"))
                .unwrap();
            assert!(plan_line.contains(r#""pages_unknown":true"#), "{plan_line}");
        }
        states = [full.state, indexed.state];
    }
}

/// A state without its `rows_per_day` hints, which only the plan reads.
fn without_rows_hints(state: &Value) -> Value {
    match state {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "rows_per_day")
                .map(|(k, v)| (k.clone(), without_rows_hints(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn instant_page_events_are_read_at_most_once_a_day() {
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 2,
            days: 2,
            ..Default::default()
        },
        assets: AssetCounts {
            pixel_denied_every: 0,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let today = chrono::Utc::now().date_naive();
    let config = sim_config(&sim.base_url(), &today.to_string(), json!({}));
    let stream = ["pixel_instant_page_events"];
    let asked = |sim: &simulator::SimHandle| {
        sim.requests()
            .iter()
            .filter(|r| r.path == "pixel/instant_page/event/")
            .count()
    };
    let run = |state: Value| {
        let config = config.clone();
        tokio::task::spawn_blocking(move || flow_session(&config, &stream, &state, &[]))
    };

    let first = run(json!({})).await.unwrap();
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    assert_eq!(asked(&sim), 2 * 220);
    assert!(!first.docs.is_empty());
    let cursors = &first.state["bindingStateV1"]["pixel_instant_page_events"]["advertisers"];
    for id in sim.model().advertiser_ids() {
        assert_eq!(cursors[id.to_string()]["cursor"], json!(today.to_string()));
    }

    // The same day again: nothing asked, nothing captured.
    let second = run(first.state.clone()).await.unwrap();
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    assert_eq!(asked(&sim), 2 * 220);
    assert!(second.docs.is_empty());

    // Read yesterday: read again today.
    let mut state = first.state.clone();
    let yesterday = (today - Days::new(1)).to_string();
    for id in sim.model().advertiser_ids() {
        state["bindingStateV1"]["pixel_instant_page_events"]["advertisers"][id.to_string()] =
            json!({"cursor": yesterday});
    }
    let third = run(state).await.unwrap();
    assert_eq!(third.output.code, 0, "{}", third.output.stderr);
    assert_eq!(asked(&sim), 4 * 220);
    assert_eq!(third.docs.len(), first.docs.len());
}

/// An ad account that never delivered costs the ledger's lifetime question and no report query:
/// the question is asked of several accounts at once, and since TikTok leaves an account
/// without delivery out of that answer (a missing account is not proof of no delivery), once
/// more of it alone. Beyond those two, only the spot checks may name it (one day at ad level).
/// A delivering one gets its reports.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_never_delivered_costs_only_the_ledgers_lifetime_questions() {
    let today = crate::common::today();
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        ..agency(today, 10)
    })
    .await
    .unwrap();
    let start = (today - Days::new(9)).to_string();
    let config = sim_config(&sim.base_url(), &start, json!({}));
    let session = flow_in_process(
        &config,
        &default_streams(),
        &json!({}),
        crate::common::at(&format!("{today}T12:00:00Z")),
    )
    .await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    let model = sim.model();
    let days: Vec<NaiveDate> = model
        .first_day()
        .iter_days()
        .take_while(|d| *d <= today)
        .collect();
    let (idle, delivering): (Vec<u64>, Vec<u64>) = model
        .advertiser_ids()
        .into_iter()
        .partition(|id| !days.iter().any(|d| model.advertiser_delivers_on(*id, *d)));
    assert!(!idle.is_empty() && !delivering.is_empty(), "{idle:?}");
    // Requests about an account: its own, or a batch naming it among others.
    let reports = |id: u64| -> Vec<_> {
        let id = id.to_string();
        sim.requests()
            .into_iter()
            .filter(|r| {
                r.path == "report/integrated/get/"
                    && (r.params.get("advertiser_id") == Some(&id)
                        || r.params
                            .get("advertiser_ids")
                            .is_some_and(|ids| ids.contains(&format!("\"{id}\""))))
            })
            .collect()
    };
    let batches = sim
        .requests()
        .iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params.contains_key("advertiser_ids"))
        .count();
    assert!(batches > 0, "the index asks about several accounts a query");
    for id in idle {
        let asked = reports(id);
        let (lifetime, others): (Vec<_>, Vec<_>) = asked
            .iter()
            .partition(|r| r.params.get("query_lifetime").map(String::as_str) == Some("true"));
        assert_eq!(lifetime.len(), 2, "{id}: {asked:#?}");
        assert!(lifetime
            .iter()
            .all(|r| r.params["data_level"] == "AUCTION_ADVERTISER"));
        assert_eq!(
            lifetime
                .iter()
                .filter(|r| r.params.contains_key("advertiser_ids"))
                .count(),
            1,
            "one batch, then alone: {asked:#?}"
        );
        for spot_check in others {
            assert_eq!(
                spot_check.params["data_level"], "AUCTION_AD",
                "{id}: {asked:#?}"
            );
            assert_eq!(
                spot_check.params["start_date"],
                spot_check.params["end_date"]
            );
        }
    }
    for id in delivering {
        assert!(reports(id).len() > default_streams().len(), "{id}");
    }
}

/// Ad accounts of several TikTok for Business users cannot share a report query: TikTok refuses
/// the batch, the index asks per account instead, and the rows are those of a run without it.
#[tokio::test(flavor = "multi_thread")]
async fn accounts_of_several_users_are_asked_one_by_one() {
    let today = crate::common::today();
    let sim = simulator::spawn(SimConfig {
        record_requests: true,
        data: DataShape {
            users: 2,
            ..agency(today, 10).data
        },
        ..agency(today, 10)
    })
    .await
    .unwrap();
    let start = (today - Days::new(9)).to_string();
    let config = sim_config(&sim.base_url(), &start, json!({}));
    let noon = format!("{today}T12:00:00Z");
    let (streams, empty) = (default_streams(), json!({}));
    let run = |index: bool| {
        let options = source_tiktok_marketing::protocol::RunOptions {
            no_activity_index: !index,
            ..crate::common::at(&noon)
        };
        flow_in_process(&config, &streams, &empty, options)
    };
    let indexed = run(true).await;
    assert_eq!(indexed.output.code, 0, "{}", indexed.output.stderr);
    let batches: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == "report/integrated/get/" && r.params.contains_key("advertiser_ids"))
        .collect();
    assert!(!batches.is_empty());
    assert!(batches.iter().all(|r| r.code == 40002), "{batches:#?}");
    assert!(indexed.output.stderr.contains("asks per account"));
    let full = run(false).await;
    assert_eq!(full.output.code, 0, "{}", full.output.stderr);
    assert_eq!(rows(&indexed), rows(&full));
    assert!(requests(&indexed) < requests(&full));
}

/// A first run has no rows per day from an earlier one: it measures a few of its reports that
/// may need more than one page (`page_size=1`, whose answer counts the rows) so that its plan
/// counts their pages, at most one measure per 20 requests they take. The next run, which has the
/// counts in its state, measures nothing.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_run_measures_a_few_reports_so_its_plan_counts_their_pages() {
    let today = crate::common::today();
    let sim = simulator::spawn(SimConfig {
        today,
        record_requests: true,
        data: DataShape {
            advertisers: 3,
            campaigns_per_advertiser: 1,
            adgroups_per_campaign: 4,
            ads_per_adgroup: 25,
            // A history longer than the 21 days read: the ads (created after their
            // advertiser, and an advertiser delivers only through them) run every day read.
            days: 60,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let start = (today - Days::new(20)).to_string();
    let config = sim_config(&sim.base_url(), &start, json!({}));
    let noon = format!("{today}T12:00:00Z");
    let streams = [
        "ads_reports_hourly",
        "advertisers_reports_hourly",
        "advertisers_reports_daily",
    ];
    let measures = |sim: &simulator::SimHandle| {
        sim.requests()
            .into_iter()
            .filter(|r| {
                r.path == "report/integrated/get/"
                    && r.params.get("page_size").map(String::as_str) == Some("1")
            })
            .collect::<Vec<_>>()
    };
    let first = flow_in_process(&config, &streams, &json!({}), crate::common::at(&noon)).await;
    assert_eq!(first.output.code, 0, "{}", first.output.stderr);
    let (plan, made) = (planned(&first) as f64, requests(&first) as f64);
    let measured = measures(&sim);
    let hourly_ads: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.params.get("data_level").map(String::as_str) == Some("AUCTION_AD")
                && r.params
                    .get("dimensions")
                    .is_some_and(|d| d.contains("stat_time_hour"))
        })
        .collect();
    let pages_beyond_the_first = hourly_ads
        .iter()
        .filter(|r| r.params.get("page").is_some_and(|p| p != "1"))
        .count();
    assert!(
        pages_beyond_the_first > 10,
        "the scenario has pages to count: {pages_beyond_the_first}"
    );
    // Only the ad-level hourly report may exceed a page here (100 ads x 24 hours); the
    // advertiser's hold 24 rows a day and one.
    assert!(!measured.is_empty());
    assert!(
        measured
            .iter()
            .all(|r| r.params["data_level"] == "AUCTION_AD"
                && r.params["dimensions"].contains("stat_time_hour")),
        "{measured:#?}"
    );
    // At most one measure per 20 of the requests the report took.
    let reading = hourly_ads.len() - measured.len();
    assert!(
        measured.len() <= reading / 20,
        "{} measures, {reading} requests",
        measured.len()
    );
    assert!(
        (plan - made).abs() <= made * 0.1,
        "planned {plan}, made {made}: {:?}",
        requests_per_stream(&first)
    );
    let plan_line = first
        .output
        .stderr
        .lines()
        .find(|l| l.contains("Capture plan"))
        .unwrap();
    assert!(
        plan_line.contains(r#""pages_unknown":false"#),
        "{plan_line}"
    );

    // Every report leaves each account's rows per day for the next plan, daily ones too
    // (their 30-day windows reach into the last week).
    for stream in ["ads_reports_hourly", "advertisers_reports_daily"] {
        for id in sim.model().advertiser_ids() {
            let hint = &first.state["bindingStateV1"][stream]["advertisers"][id.to_string()];
            assert!(
                hint["rows_per_day"].as_f64().is_some_and(|r| r > 0.0),
                "{stream} {id}: {hint}"
            );
        }
    }
    // The next run knows the rows per day: nothing measured.
    let before = measured.len();
    let tomorrow = format!("{}T12:00:00Z", today + Days::new(1));
    let second = flow_in_process(
        &config,
        &streams,
        &first.state,
        crate::common::at(&tomorrow),
    )
    .await;
    assert_eq!(second.output.code, 0, "{}", second.output.stderr);
    assert_eq!(measures(&sim).len(), before);
}
