//! The ledger against servers whose levels disagree (the simulator's disagreement switches):
//! each way TikTok's advertiser totals can fail to show a day's rows is either read in full or
//! found by the spot checks, so a capture with the ledger holds every row a capture that reads
//! every day holds; and on data that agrees nothing is flagged.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Days, NaiveDate};
use serde_json::{json, Value};
use tiktok_sim::{self as simulator, DataShape, Disagreement, SimConfig};

use crate::budget::agency;
use crate::common::{flow_in_process, sim_config, Session};

/// Streams at every level, daily and hourly, with the advertiser daily stream whose query the
/// ledger shares.
const STREAMS: &[&str] = &[
    "advertisers_reports_daily",
    "campaigns_reports_daily",
    "ad_groups_reports_hourly",
    "ads_reports_daily",
    "campaigns_reports_lifetime",
];

fn rows(session: &Session) -> BTreeMap<usize, BTreeSet<String>> {
    let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for (binding, doc) in &session.docs {
        out.entry(*binding).or_default().insert(doc.to_string());
    }
    out
}

/// A run of `streams` against `sim` from `state`, with the ledger or reading every day.
async fn run(
    sim: &simulator::SimHandle,
    days: u64,
    streams: &[&str],
    state: &Value,
    ledger: bool,
) -> Session {
    let advanced = json!({"requests_per_second": 100});
    run_with(sim, (days, streams, state), ledger, advanced).await
}

/// [`run`] with these `advanced` options.
async fn run_with(
    sim: &simulator::SimHandle,
    (days, streams, state): (u64, &[&str], &Value),
    ledger: bool,
    advanced: Value,
) -> Session {
    let today = sim.model().first_day() + Days::new(days - 1);
    let start = sim.model().first_day().to_string();
    let config = sim_config(&sim.base_url(), &start, json!({ "advanced": advanced }));
    let noon = format!("{today}T12:00:00Z");
    let options = source_tiktok_marketing::protocol::RunOptions {
        no_activity_index: !ledger,
        ..crate::common::at(&noon)
    };
    let session = flow_in_process(&config, streams, state, options).await;
    assert_eq!(session.output.code, 0, "{}", session.output.stderr);
    session
}

/// Runs with and without the ledger capture the same rows, and the day's rows are among them.
async fn same_rows_as_reading_every_day(config: SimConfig, day: NaiveDate) -> Session {
    let days = config.data.days as u64;
    let sim = simulator::spawn(config).await.unwrap();
    let with = run(&sim, days, STREAMS, &json!({}), true).await;
    let every_day = run(&sim, days, STREAMS, &json!({}), false).await;
    let (with_rows, all_rows) = (rows(&with), rows(&every_day));
    for (binding, stream) in STREAMS.iter().enumerate() {
        assert_eq!(
            with_rows.get(&binding),
            all_rows.get(&binding),
            "{stream}: rows differ with the ledger"
        );
    }
    let of_day = all_rows
        .values()
        .flatten()
        .filter(|doc| doc.contains(&day.to_string()))
        .count();
    assert!(of_day > 0, "the server has rows on {day}");
    sim.shutdown().await;
    with
}

/// The first day on which a delivering account of the agency delivers (has rows in the
/// simulator's reports: its day is not idle and one of its ads delivers), and that account.
fn a_delivering_day(config: &SimConfig) -> (u64, NaiveDate) {
    let model = simulator::Model::new(config);
    let first = model.first_day();
    for id in model.advertiser_ids() {
        for day in first.iter_days().take(config.data.days as usize) {
            if model.advertiser_delivers_on(id, day) {
                return (id, day);
            }
        }
    }
    panic!(
        "no account delivers in the {} days to {}",
        config.data.days, config.today
    )
}

/// The agency with its accounts split between two TikTok for Business users, so that no report
/// covers several accounts: each account's totals are read alone (a multi-account answer adds
/// text metrics, `currency` and `timezone`, to every row, which the old index read as activity).
fn agency_of_two_users(days: u32) -> SimConfig {
    let config = agency_of(days);
    SimConfig {
        data: DataShape {
            users: 2,
            ..config.data
        },
        ..config
    }
}

fn agency_of(days: u32) -> SimConfig {
    SimConfig {
        record_requests: true,
        ..agency(crate::common::today(), days)
    }
}

/// A day whose delivery shows only in a metric outside the sixteen the old activity index
/// asked (here `video_watched_2s`, every other figure of every row zero) is read: the ledger
/// asks every additive metric the streams request.
#[tokio::test(flavor = "multi_thread")]
async fn a_day_non_zero_only_in_another_metric_is_read() {
    let mut config = agency_of_two_users(6);
    let (_, day) = a_delivering_day(&config);
    config.faults.disagreements = vec![Disagreement::OnlyMetrics {
        day,
        keep: vec!["video_watched_2s".into()],
        dash_in_totals: false,
    }];
    let session = same_rows_as_reading_every_day(config, day).await;
    let non_zero_that_day = session.docs.iter().any(|(_, doc)| {
        doc.to_string().contains(&day.to_string())
            && doc["metrics"]["video_watched_2s"]
                .as_f64()
                .is_some_and(|x| x > 0.0)
    });
    assert!(
        non_zero_that_day,
        "rows of {day} with video_watched_2s are captured"
    );
}

/// `-` in the advertiser totals of a day (its other figures zero) is not a zero: the day is read
/// at every level.
#[tokio::test(flavor = "multi_thread")]
async fn a_dash_in_the_totals_is_read_in_full() {
    let mut config = agency_of_two_users(6);
    let (_, day) = a_delivering_day(&config);
    config.faults.disagreements = vec![Disagreement::OnlyMetrics {
        day,
        keep: vec!["conversion".into()],
        dash_in_totals: true,
    }];
    same_rows_as_reading_every_day(config, day).await;
}

/// An account missing from a multi-account answer is asked alone, and its rows are captured.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_left_out_of_a_multi_account_answer_is_asked_alone() {
    let mut config = agency_of(6);
    let (account, day) = a_delivering_day(&config);
    config.faults.disagreements = vec![Disagreement::AccountLeftOut {
        advertiser_id: account,
    }];
    let days = config.data.days as u64;
    let sim = simulator::spawn(config).await.unwrap();
    let with = run(&sim, days, STREAMS, &json!({}), true).await;
    let every_day = run(&sim, days, STREAMS, &json!({}), false).await;
    assert_eq!(rows(&with), rows(&every_day));
    let id = account.to_string();
    let alone = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "report/integrated/get/"
                && r.params.get("advertiser_id") == Some(&id)
                && r.params.get("query_lifetime").map(String::as_str) == Some("true")
                && r.params["data_level"] == "AUCTION_ADVERTISER"
        })
        .count();
    assert!(alone >= 1, "the account left out is asked alone");
    assert!(
        with.docs
            .iter()
            .any(|(_, doc)| doc.to_string().contains(&id)
                && doc.to_string().contains(&day.to_string())),
        "its rows of {day} are captured"
    );
    sim.shutdown().await;
}

/// An account with more ads than TikTok's totals are sure to cover (by the run's own count of
/// its ads, with no throttle header on the totals, which hold no daily row): nothing of it is
/// skipped.
#[tokio::test(flavor = "multi_thread")]
async fn totals_over_the_cap_by_the_ad_count_skip_nothing() {
    let config = SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 11,
            adgroups_per_campaign: 10,
            ads_per_adgroup: 100,
            days: 2,
            auction_only_every: 1,
            ..Default::default()
        },
        today: crate::common::today(),
        ..SimConfig::default()
    };
    let account = simulator::Model::new(&config).advertiser_ids()[0];
    let config = SimConfig {
        faults: tiktok_sim::Faults {
            disagreements: vec![Disagreement::TotalsOverCap {
                advertiser_id: account,
            }],
            ..Default::default()
        },
        ..config
    };
    let sim = simulator::spawn(config).await.unwrap();
    let streams = ["campaigns_reports_daily"];
    let with = run(&sim, 2, &streams, &json!({}), true).await;
    let every_day = run(&sim, 2, &streams, &json!({}), false).await;
    assert!(!every_day.docs.is_empty());
    assert_eq!(rows(&with), rows(&every_day));
    // The reconciliation finds the totals short of the rows, and names the cap.
    let warnings = reconciliation_warnings(&with);
    assert_eq!(warnings.len(), 1, "{}", with.output.stderr);
    assert_eq!(warnings[0]["advertiser_id"], account);
    assert!(
        warnings[0]["likely_cause"]
            .as_str()
            .unwrap()
            .contains("ads cap"),
        "{}",
        warnings[0]
    );
    let (compared, differing) = reconciled(&with);
    assert!(
        compared > 0 && differing == compared,
        "{compared} {differing}"
    );
    sim.shutdown().await;
}

/// The reconciliation's warnings of a run (one per account, level and stream that differs).
fn reconciliation_warnings(session: &Session) -> Vec<Value> {
    crate::common::logs_saying(&session.output.stderr, "do not add up")
}

/// The account-days reconciled and those that differ, from `Capture finished.`.
fn reconciled(session: &Session) -> (u64, u64) {
    let line = session
        .output
        .stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "Capture finished.")
        .expect("a Capture finished. line");
    (
        line["reconciled_account_days"].as_u64().unwrap(),
        line["differing_account_days"].as_u64().unwrap(),
    )
}

/// A row one level's answers leave out (the other levels and the totals count it) is found by
/// the reconciliation: one warning naming the account, the level, the day and the figures,
/// and the run's last line counts the account-day as differing.
#[tokio::test(flavor = "multi_thread")]
async fn the_reconciliation_finds_a_row_left_out_of_one_level() {
    let mut config = agency_of(6);
    let (account, day) = a_delivering_day(&config);
    config.faults.disagreements = vec![Disagreement::RowDropped {
        data_level: "AUCTION_AD".into(),
        day,
        advertiser_id: account,
    }];
    let days = config.data.days as u64;
    let sim = simulator::spawn(config).await.unwrap();
    let session = run(&sim, days, STREAMS, &json!({}), true).await;
    let warnings = reconciliation_warnings(&session);
    assert_eq!(warnings.len(), 1, "{}", session.output.stderr);
    let warning = &warnings[0];
    assert_eq!(warning["advertiser_id"], account, "{warning}");
    assert_eq!(warning["level"], "AUCTION_AD");
    assert_eq!(warning["stream"], "ads_reports_daily");
    assert!(
        warning["days"].as_str().unwrap().contains(&day.to_string()),
        "{warning}"
    );
    assert!(
        warning["metrics"]
            .as_str()
            .unwrap()
            .split(", ")
            .any(|m| m == "spend"),
        "{warning}"
    );
    let (compared, differing) = reconciled(&session);
    assert!(compared > 1 && differing >= 1, "{compared} {differing}");
    sim.shutdown().await;
}

/// A buying type the campaign, ad group and ad answers leave out while the totals count it:
/// every level of every account that delivers in it differs, and nothing else does.
#[tokio::test(flavor = "multi_thread")]
async fn the_reconciliation_finds_a_hidden_buying_type_at_every_level() {
    for buying_type in ["RESERVATION_RF", "RESERVATION_TOP_VIEW"] {
        // Nine campaigns an account, every account delivering: the simulator makes every 9th
        // campaign reach & frequency and every 7th TopView, so both deliver here.
        let mut config = agency_of(6);
        config.data.campaigns_per_advertiser = 9;
        config.data.idle_account_share = 0.0;
        config.faults.disagreements = vec![Disagreement::BuyingTypeHidden {
            buying_type: buying_type.into(),
        }];
        let days = config.data.days as u64;
        let sim = simulator::spawn(config).await.unwrap();
        let session = run(&sim, days, STREAMS, &json!({}), true).await;
        let warnings = reconciliation_warnings(&session);
        assert!(
            !warnings.is_empty(),
            "{buying_type}: {}",
            session.output.stderr
        );
        let mut levels: BTreeMap<u64, BTreeSet<String>> = BTreeMap::new();
        for w in &warnings {
            levels
                .entry(w["advertiser_id"].as_u64().unwrap())
                .or_default()
                .insert(w["level"].as_str().unwrap().to_string());
        }
        // The daily streams of this run: campaigns and ads (ad groups are read by hour).
        for (account, levels) in &levels {
            let expected = BTreeSet::from(["AUCTION_AD".to_string(), "AUCTION_CAMPAIGN".into()]);
            assert_eq!(levels, &expected, "{buying_type}: account {account}");
        }
        let (compared, differing) = reconciled(&session);
        assert!(differing > 0 && compared > 0, "{compared} {differing}");
        sim.shutdown().await;
    }
}

/// Totals that say zero on days whose ad rows are not (an account under the cap by count):
/// the spot checks read a skipped day at ad level, warn once, and every day of the account is
/// read in that run and the next ones, which the state remembers, until a run finds the totals
/// showing that day's rows again.
#[tokio::test(flavor = "multi_thread")]
async fn the_spot_checks_find_totals_that_hide_rows_and_remember_it() {
    let config = SimConfig {
        record_requests: true,
        data: DataShape {
            advertisers: 1,
            campaigns_per_advertiser: 4,
            adgroups_per_campaign: 3,
            ads_per_adgroup: 5,
            days: 4,
            idle_day_share: 0.0,
            ..Default::default()
        },
        today: crate::common::today(),
        ..SimConfig::default()
    };
    let model = simulator::Model::new(&config);
    let account = model.advertiser_ids()[0];
    // Every day the spot checks may draw (the three complete ones; the run is at noon of the
    // last) has ad rows, whatever the run's seed: with two campaigns only one of them did, and
    // the test failed when ten runs drew the other two.
    for day in model.first_day().iter_days().take(3) {
        assert!(
            model.advertiser_delivers_on(account, day),
            "the account delivers on {day}: choose another shape"
        );
    }
    let disagreeing = SimConfig {
        faults: tiktok_sim::Faults {
            disagreements: vec![Disagreement::TotalsOverCap {
                advertiser_id: account,
            }],
            ..Default::default()
        },
        ..config
    };
    let sim = simulator::spawn(disagreeing.clone()).await.unwrap();
    let streams = ["campaigns_reports_daily", "ads_reports_daily"];
    let warnings = |s: &Session| {
        s.output
            .stderr
            .lines()
            .filter(|l| l.contains("totals and its ad-level rows disagree"))
            .count()
    };
    // One account-day a run is drawn, and every one of them has ad rows: the first run finds
    // them (the loop is there for a run whose checks could not be read).
    let mut state = json!({});
    let mut first = None;
    for _ in 0..10 {
        let session = run(&sim, 4, &streams, &state, true).await;
        match warnings(&session) {
            0 => state = session.state,
            n => {
                assert_eq!(n, 1, "{}", session.output.stderr);
                first = Some(session);
                break;
            }
        }
    }
    let first = first.expect("the spot checks find the hidden rows within ten runs");
    let every_day = run(&sim, 4, &streams, &json!({}), false).await;
    assert!(!every_day.docs.is_empty());
    assert_eq!(
        rows(&first),
        rows(&every_day),
        "nothing of the account is skipped"
    );
    let marked = |state: &Value| state.to_string().contains("\"ledger_distrust\":\"");
    assert!(marked(&first.state), "{}", first.state);
    // The next run starts distrusting: the day is read again, still disagrees, and every day
    // is read (the cursors let it read the last day again).
    let second = run(&sim, 4, &streams, &first.state, true).await;
    assert!(marked(&second.state), "{}", second.state);
    let again = run(&sim, 4, &streams, &first.state, false).await;
    assert_eq!(rows(&second), rows(&again));
    sim.shutdown().await;
    // A server whose totals show the day again (the same data, without the switch): the
    // re-read day agrees, the mark is lifted, and the rows are still all there.
    let fixed = simulator::spawn(SimConfig {
        faults: Default::default(),
        ..disagreeing
    })
    .await
    .unwrap();
    let third = run(&fixed, 4, &streams, &second.state, true).await;
    assert!(!marked(&third.state), "{}", third.state);
    assert!(
        third.output.stderr.contains("skipped again"),
        "{}",
        third.output.stderr
    );
    let reference = run(&fixed, 4, &streams, &second.state, false).await;
    assert_eq!(rows(&third), rows(&reference));
    fixed.shutdown().await;
}

/// On data whose levels agree, the ledger flags nothing.
#[tokio::test(flavor = "multi_thread")]
async fn consistent_data_raises_no_warning() {
    let config = agency_of(8);
    let days = config.data.days as u64;
    let sim = simulator::spawn(config).await.unwrap();
    let session = run(&sim, days, STREAMS, &json!({}), true).await;
    assert!(
        !session.output.stderr.contains("disagree"),
        "{}",
        session.output.stderr
    );
    assert!(!session.state.to_string().contains("ledger_distrust"));
    // The levels add up in every metric: no account-day compared differs.
    assert!(
        reconciliation_warnings(&session).is_empty(),
        "{}",
        session.output.stderr
    );
    let (compared, differing) = reconciled(&session);
    assert!(compared > 0 && differing == 0, "{compared} {differing}");
    let spot_checked = session
        .output
        .stderr
        .lines()
        .any(|l| l.contains("Spot checks"));
    assert!(spot_checked, "the run checked a sample of skipped days");
    sim.shutdown().await;
}

/// With every metric group the ledger's query of every additive metric is wider than the
/// simulator answers (more than 200 metrics a query, its own documented limit: 40067): it is
/// asked in parts of the metrics and joined, so the ledger still lets idle days go unread, the
/// reconciliation still compares each day, and the rows are those of reading every day.
#[tokio::test(flavor = "multi_thread")]
async fn with_every_metric_group_the_ledger_is_read_in_parts() {
    let config = agency_of_two_users(6);
    let days = config.data.days as u64;
    let sim = simulator::spawn(config).await.unwrap();
    let streams: &[&str] = &["advertisers_reports_daily", "campaigns_reports_daily"];
    let all = json!({"requests_per_second": 100, "metric_groups": ["all"]});
    let with = run_with(&sim, (days, streams, &json!({})), true, all.clone()).await;
    let ledger_queries: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| {
            r.path == "report/integrated/get/"
                && r.params["data_level"] == "AUCTION_ADVERTISER"
                && r.params
                    .get("dimensions")
                    .is_some_and(|d| d.contains("stat_time_day"))
        })
        .collect();
    let campaign_queries = |from: usize| {
        sim.requests()
            .into_iter()
            .skip(from)
            .filter(|r| r.params.get("data_level").map(String::as_str) == Some("AUCTION_CAMPAIGN"))
            .count()
    };
    let campaign_with = campaign_queries(0);
    let before = sim.requests().len();
    let every_day = run_with(&sim, (days, streams, &json!({})), false, all).await;
    assert_eq!(rows(&with), rows(&every_day));
    // The whole query was refused as too large, and its parts answered.
    assert!(
        ledger_queries.iter().any(|r| r.code == 40067),
        "no refusal: the test is moot"
    );
    assert!(ledger_queries.iter().any(|r| r.code == 0));
    assert!(
        crate::common::logs_saying(&with.output.stderr, "did not answer the ledger").is_empty(),
        "{}",
        with.output.stderr
    );
    // Idle days go unread with the ledger, and the days read are reconciled.
    assert!(
        campaign_with < campaign_queries(before),
        "the ledger skipped nothing"
    );
    let (compared, differing) = reconciled(&with);
    assert!(compared > 0);
    assert_eq!(differing, 0);
    sim.shutdown().await;
}
